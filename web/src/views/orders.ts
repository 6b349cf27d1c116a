// The customer's orders (GET /orders), newest as the server lists them,
// each with its status; a paid order lists its tickets with a PDF link
// each. Tickets are issued a moment after payment, so until they all
// exist the view says "Issuing tickets…" and asks again every second,
// for a bounded time.

import { ApiError, listOrders, listTickets, ticketPdfUrl } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { formatLocalTime, formatMoney, TICKET_STATUS_TEXT } from '../format.js';
import { session } from '../session.js';
import type { Order, Ticket } from '../types.js';
import { heading, loginPrompt, orderBadge, showLink, type View } from './common.js';

/** Seconds to keep asking for tickets of a paid order. */
const TICKET_POLLS = 60;

async function allTickets(orderId: string): Promise<Ticket[]> {
  const tickets: Ticket[] = [];
  let token: string | null = null;
  do {
    const page = await listTickets(orderId, token);
    tickets.push(...page.tickets);
    token = page.next_page_token || null;
  } while (token);
  return tickets;
}

function ticketItem(ticket: Ticket): HTMLElement {
  return h(
    'li',
    { class: 'ticket', 'data-ticket-id': ticket.ticket_id, 'data-status': ticket.status },
    h('span', null, `Seat ${ticket.seat_label} · ${ticket.section}, row ${ticket.row} · ${ticket.holder_name} · ${formatMoney(ticket.price_minor, ticket.currency)} · `),
    h('span', { class: `badge badge-ticket-${ticket.status}` }, TICKET_STATUS_TEXT[ticket.status] ?? ticket.status),
    ticket.checked_in_at ? ` (checked in ${formatLocalTime(ticket.checked_in_at)})` : null,
    ' ',
    ticket.status === 'voided'
      ? null
      : h(
          'a',
          { class: 'ticket-download', href: ticketPdfUrl(ticket.ticket_id), download: `ticket-${ticket.seat_label}.pdf` },
          `Download ticket ${ticket.seat_label} (PDF)`,
        ),
  );
}

export const ordersView: View = (main) => {
  let disposed = false;
  const timers = new Set<number>();
  const list = h('div', { class: 'orders' });
  const status = h('div', { role: 'status' }, 'Loading your orders…');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More orders');
  let pageToken: string | null = null;
  main.replaceChildren(heading('Your orders'), status, list, more);

  if (!session().loggedIn) {
    status.replaceChildren(loginPrompt('to see your orders.'));
    return;
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = window.setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  /** Fills `slot` with the order's tickets, asking again until every seat has one. */
  const showTickets = async (order: Order, slot: HTMLElement): Promise<void> => {
    const expected = order.items.reduce((n, item) => n + item.seat_labels.length, 0);
    const waiting = h('p', { class: 'issuing', role: 'status' }, 'Issuing tickets…');
    const ticketList = h('ul', { class: 'tickets' });
    slot.replaceChildren(waiting, ticketList);
    for (let attempt = 0; attempt < TICKET_POLLS && !disposed; attempt += 1) {
      try {
        const tickets = await allTickets(order.order_id);
        if (disposed) return;
        ticketList.replaceChildren(...tickets.map(ticketItem));
        if (tickets.length >= expected && tickets.length > 0) {
          waiting.remove();
          return;
        }
      } catch (error) {
        if (disposed) return;
        if (!(error instanceof ApiError) || error.status === 401 || error.status === 403 || error.status === 404) {
          fill(waiting, errorBox(error));
          return;
        }
      }
      await sleep(1000);
    }
    if (disposed) return;
    const again = h('button', { type: 'button', class: 'secondary small' }, 'Check again');
    again.addEventListener('click', () => void showTickets(order, slot));
    fill(waiting, 'Tickets are taking longer than usual to be issued. ', again);
  };

  const orderCard = (order: Order): HTMLElement => {
    const tickets = h('div', { class: 'ticket-slot' });
    const card = h(
      'article',
      { class: 'order-card', 'data-order-id': order.order_id, 'data-order-status': order.status },
      h('h2', null, `Order ${order.order_id} `, orderBadge(order.status)),
      h(
        'ul',
        { class: 'order-items' },
        order.items.map((item) =>
          h('li', null, showLink(item.show_id), ` — seats ${item.seat_labels.join(', ')} — ${formatMoney(item.price_minor, order.currency)}`),
        ),
      ),
      h('p', null, 'Total ', h('strong', null, formatMoney(order.total_minor, order.currency))),
      order.status === 'payment_failed' && order.failure_reason ? h('p', { class: 'notice notice-error' }, `Payment failed: ${order.failure_reason}`) : null,
      order.status === 'cart' || order.status === 'payment_failed' ? h('p', null, h('a', { href: '#/cart' }, 'Go to the cart to pay')) : null,
      order.status === 'paid' || order.status === 'refunded' ? h('section', { 'aria-label': `Tickets of order ${order.order_id}` }, h('h3', null, 'Tickets'), tickets) : null,
    );
    if (order.status === 'paid') void showTickets(order, tickets);
    else if (order.status === 'refunded') {
      void allTickets(order.order_id).then(
        (found) => !disposed && tickets.replaceChildren(found.length ? h('ul', { class: 'tickets' }, found.map(ticketItem)) : h('p', null, 'No tickets.')),
        (error: unknown) => !disposed && fill(tickets, errorBox(error)),
      );
    }
    return card;
  };

  const load = async (): Promise<void> => {
    more.disabled = true;
    try {
      const page = await listOrders(pageToken);
      if (disposed) return;
      list.append(...page.orders.map(orderCard));
      pageToken = page.next_page_token || null;
      more.hidden = !pageToken;
      fill(status, list.children.length ? '' : h('p', null, 'No orders yet. ', h('a', { href: '#/' }, 'Find a show'), '.'));
    } catch (error) {
      if (disposed) return;
      fill(status, error instanceof ApiError && error.status === 401 ? loginPrompt('to see your orders.') : errorBox(error));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load());
  void load();

  return () => {
    disposed = true;
    timers.forEach((timer) => window.clearTimeout(timer));
  };
};
