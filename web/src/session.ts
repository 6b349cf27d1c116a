// Who is logged in, as far as this page knows: set by login/logout, found
// out on load from the session cookie (a 401 from /orders means "not logged
// in"), and dropped by any 401. Views subscribe to redraw the navigation.

import { ApiError, listOrders, onUnauthorized } from './api.js';

export interface SessionState {
  loggedIn: boolean;
  /** Known after a login in this page; null when the cookie restored the session. */
  email: string | null;
}

let state: SessionState = { loggedIn: false, email: null };
const listeners: Array<(s: SessionState) => void> = [];

export function session(): SessionState {
  return state;
}

export function setSession(next: SessionState): void {
  const changed = next.loggedIn !== state.loggedIn || next.email !== state.email;
  state = next;
  if (changed) for (const listener of listeners) listener(state);
}

/** Calls `listener` on every change; returns a function that stops that. */
export function onSessionChange(listener: (s: SessionState) => void): () => void {
  listeners.push(listener);
  return () => {
    const i = listeners.indexOf(listener);
    if (i >= 0) listeners.splice(i, 1);
  };
}

onUnauthorized(() => setSession({ loggedIn: false, email: null }));

/** On page load: does the session cookie still log us in? */
export async function restoreSession(): Promise<void> {
  try {
    await listOrders(null, 1);
    setSession({ loggedIn: true, email: null });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) console.warn('session check failed', error);
    setSession({ loggedIn: false, email: null });
  }
}
