// Pieces shared by the views: the view signature, headings that take focus
// on navigation, status badges (text, never colour alone), the login
// prompt, countdowns to an RFC 3339 moment, and show titles for orders.

import { serverNow } from '../api.js';
import { h } from '../dom.js';
import { formatCountdown, ORDER_STATUS_TEXT } from '../format.js';
import { memory, showDetails } from '../state.js';
import type { OrderStatus } from '../types.js';

/** Draws a view into `main`; may return a function that stops its timers and streams. */
export type View = (main: HTMLElement, ...params: string[]) => (() => void) | void;

/** The view's `<h1>`, which receives focus after each navigation. */
export function heading(text: string): HTMLHeadingElement {
  document.title = `${text} · Tickets`;
  return h('h1', { tabindex: -1, class: 'view-heading' }, text);
}

export function orderBadge(status: OrderStatus): HTMLElement {
  return h('span', { class: `badge badge-${status}`, 'data-status': status }, ORDER_STATUS_TEXT[status] ?? status);
}

/** "Log in to …" with a link that comes back here afterwards. */
export function loginPrompt(what: string): HTMLElement {
  return h(
    'p',
    { class: 'notice' },
    h('a', { href: '#/login', onclick: () => (memory.returnTo = location.hash) }, 'Log in'),
    ' or ',
    h('a', { href: '#/register', onclick: () => (memory.returnTo = location.hash) }, 'create an account'),
    ` ${what}`,
  );
}

/**
 * Keeps `el` showing mm:ss until `expiresAt` (by the server's clock);
 * calls `onExpire` once at zero. Returns a function that stops it.
 */
export function startCountdown(el: HTMLElement, expiresAt: string | null, onExpire: () => void): () => void {
  const end = expiresAt ? Date.parse(expiresAt) : Number.NaN;
  if (Number.isNaN(end)) {
    el.textContent = '--:--';
    return () => undefined;
  }
  let done = false;
  const tick = (): void => {
    const left = end - serverNow();
    el.textContent = formatCountdown(left);
    if (left <= 0 && !done) {
      done = true;
      window.clearInterval(timer);
      onExpire();
    }
  };
  const timer = window.setInterval(tick, 250);
  tick();
  return () => window.clearInterval(timer);
}

/** A link to a show, titled once its details arrive. */
export function showLink(showId: string): HTMLElement {
  const link = h('a', { href: `#/shows/${encodeURIComponent(showId)}` }, showId);
  showDetails(showId).then(
    (show) => (link.textContent = show.title),
    () => undefined,
  );
  return link;
}
