// A show's page: details, the live seat map, and the buyer's panel —
// selection, "Hold seats" (POST /reservations), then each hold with its
// countdown, "Release" and "Add to cart". The map follows the seat-map
// event stream, so other buyers' holds and sales appear without a reload.

import {
  addToCart,
  ApiError,
  getSeatMap,
  newIdempotencyKey,
  releaseReservation,
  reserveSeats,
} from '../api.js';
import { announce, errorBox, fill, h } from '../dom.js';
import { formatMoney, formatShowTime } from '../format.js';
import { SeatMapFeed, type FeedState } from '../live.js';
import { SeatMapView } from '../seatmap.js';
import { onSessionChange, session } from '../session.js';
import { forgetReservation, memory, rememberReservation, reservationsFor, showDetails, type KnownReservation } from '../state.js';
import type { SeatMap, Show } from '../types.js';
import { heading, loginPrompt, startCountdown, type View } from './common.js';

const MAX_SEATS = 10;

const FEED_TEXT: Record<FeedState, string> = {
  connecting: 'Connecting to live updates…',
  live: 'Live: seats update as other buyers hold and buy them.',
  reconnecting: 'Live updates interrupted; reconnecting…',
};

export const showView: View = (main, showId = '') => {
  const stops: Array<() => void> = [];
  let disposed = false;
  let map: SeatMapView | null = null;
  let show: Show | null = null;
  let seatMapData: SeatMap | null = null;
  let feedLive = false;
  /** The Idempotency-Key of a hold attempt that got no answer, reused on retry. */
  let pendingHold: { labels: string; key: string } | null = null;

  const title = heading('Show');
  const details = h('div', { class: 'show-details' });
  const mapArea = h('div', { class: 'map-area' }, h('p', { role: 'status' }, 'Loading seat map…'));
  const selectionText = h('p', { class: 'selection', 'aria-live': 'polite' });
  const holdButton = h('button', { type: 'button', id: 'hold-seats', disabled: true }, 'Hold seats');
  const holdSlot = h('div', { class: 'hold-slot' });
  const message = h('div', { class: 'message-slot' });
  const holdsList = h('div', { class: 'holds' });
  const feedStatus = h('p', { class: 'feed-status', role: 'status' });

  const panel = h(
    'aside',
    { class: 'panel', 'aria-labelledby': 'panel-heading' },
    h('h2', { id: 'panel-heading' }, 'Your seats'),
    selectionText,
    holdSlot,
    message,
    holdsList,
    feedStatus,
  );
  main.replaceChildren(title, details, h('div', { class: 'show-layout' }, mapArea, panel));

  // --- selection and the hold button ---

  const updateSelection = (labels: string[]): void => {
    if (!labels.length) {
      selectionText.textContent = `No seats selected. Pick up to ${MAX_SEATS} on the map.`;
    } else {
      const total = labels.reduce((sum, label) => sum + (seatPrice(label) ?? 0), 0);
      selectionText.textContent = `${labels.length} seat${labels.length === 1 ? '' : 's'} selected: ${labels.join(', ')} — ${formatMoney(total, seatMapData?.currency ?? show?.currency ?? 'EUR')}`;
    }
    holdButton.disabled = !labels.length;
  };

  const seatPrice = (label: string): number | undefined =>
    seatMapData?.seats.find((seat) => seat.label === label)?.price_minor;

  const drawHoldSlot = (): void => {
    if (show && show.status !== 'published') {
      fill(holdSlot, h('p', { class: 'notice' }, show.status === 'cancelled' ? 'This show is cancelled.' : 'This show is not on sale yet.'));
    } else if (!session().loggedIn) {
      fill(holdSlot, loginPrompt('to hold seats.'));
    } else {
      fill(holdSlot, holdButton);
    }
  };
  stops.push(onSessionChange(drawHoldSlot));

  const hold = async (): Promise<void> => {
    if (!map) return;
    const labels = map.selection();
    if (!labels.length) return;
    const key = pendingHold?.labels === labels.join(',') ? pendingHold.key : newIdempotencyKey();
    pendingHold = { labels: labels.join(','), key };
    holdButton.disabled = true;
    holdButton.textContent = 'Holding…';
    fill(message);
    try {
      const reservation = await reserveSeats(showId, labels, key);
      pendingHold = null;
      if (disposed) return;
      rememberReservation(reservation);
      map.clearSelection();
      for (const label of reservation.seat_labels) map.setStatus(label, 'held');
      map.setMine(reservation.seat_labels, true);
      drawHolds();
      announce(`Seats ${reservation.seat_labels.join(', ')} are held for you.`);
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0) pendingHold = null;
      if (disposed) return;
      fill(message, errorBox(error));
      if (error instanceof ApiError && error.status === 409) void refreshMap();
    } finally {
      holdButton.textContent = 'Hold seats';
      holdButton.disabled = !map?.selection().length;
    }
  };
  holdButton.addEventListener('click', () => void hold());

  // --- the holds made here, with countdowns ---

  const drawHolds = (): void => {
    for (const stop of holdStops.splice(0)) stop();
    const known = reservationsFor(showId).filter((k) => k.reservation.status === 'active');
    holdsList.replaceChildren(...known.map(holdCard));
  };
  const holdStops: Array<() => void> = [];
  stops.push(() => holdStops.forEach((stop) => stop()));

  const holdCard = (known: KnownReservation): HTMLElement => {
    const { reservation } = known;
    const id = reservation.reservation_id;
    const clock = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' }, '--:--');
    const cardMessage = h('div', { class: 'message-slot' });
    const release = h('button', { type: 'button', class: 'secondary' }, 'Release');
    const toCart = h('button', { type: 'button' }, 'Add to cart');
    const total = reservation.seat_labels.reduce((sum, label) => sum + (seatPrice(label) ?? 0), 0);
    const card = h(
      'section',
      { class: 'hold-card', 'data-reservation-id': id, 'aria-label': `Hold of seats ${reservation.seat_labels.join(', ')}` },
      h('h3', null, `Held: ${reservation.seat_labels.join(', ')}`),
      h('p', null, formatMoney(total, seatMapData?.currency ?? show?.currency ?? 'EUR')),
      known.orderId
        ? h('p', null, 'In your cart. ', h('a', { href: '#/cart' }, 'Go to cart'))
        : [h('p', null, 'Hold ends in ', clock), h('div', { class: 'actions' }, toCart, release)],
      cardMessage,
    );
    if (known.orderId) return card;
    holdStops.push(
      startCountdown(clock, reservation.expires_at, () => {
        fill(cardMessage, h('p', { class: 'notice notice-error', role: 'alert' }, 'This hold has expired; the seats are free again.'));
        release.disabled = toCart.disabled = true;
        rememberReservation({ ...reservation, status: 'expired' });
        map?.setMine(reservation.seat_labels, false);
      }),
    );
    release.addEventListener('click', async () => {
      release.disabled = toCart.disabled = true;
      try {
        const released = await releaseReservation(id);
        forgetReservation(id);
        map?.setMine(released.seat_labels, false);
        for (const label of released.seat_labels) map?.setStatus(label, 'available');
        announce(`Seats ${released.seat_labels.join(', ')} released.`);
        drawHolds();
      } catch (error) {
        fill(cardMessage, errorBox(error));
        release.disabled = toCart.disabled = false;
      }
    });
    toCart.addEventListener('click', async () => {
      release.disabled = toCart.disabled = true;
      try {
        const order = await addToCart(id);
        memory.cartOrderId = order.order_id;
        rememberReservation(reservation, order.order_id);
        location.hash = '#/cart';
      } catch (error) {
        fill(cardMessage, errorBox(error));
        release.disabled = toCart.disabled = false;
      }
    });
    return card;
  };

  // --- the map and its live feed ---

  const draw = (seatMap: SeatMap): void => {
    seatMapData = seatMap;
    if (map && map.applySnapshot(seatMap)) return;
    map = new SeatMapView(seatMap, {
      maxSelection: MAX_SEATS,
      selectable: show?.status === 'published',
      onSelectionChange: updateSelection,
    });
    const mine = reservationsFor(showId)
      .filter((k) => k.reservation.status === 'active')
      .flatMap((k) => k.reservation.seat_labels);
    map.setMine(mine, true);
    mapArea.replaceChildren(h('h2', { class: 'visually-hidden' }, 'Seat map'), map.element);
    updateSelection([]);
    drawHolds();
  };

  /** After a conflict: a fresh snapshot from the stream, or the map by GET if the stream is down. */
  const refreshMap = async (): Promise<void> => {
    if (feedLive) {
      feed.reopen();
      return;
    }
    try {
      const seatMap = await getSeatMap(showId);
      if (!disposed) draw(seatMap);
    } catch (error) {
      if (!disposed) fill(message, errorBox(error));
    }
  };

  const feed = new SeatMapFeed(showId, {
    snapshot: ({ seat_map }) => {
      if (!disposed) draw(seat_map);
    },
    change: ({ label, status }) => {
      if (!map || disposed) return;
      const known = map.setStatus(label, status);
      const seat = seatMapData?.seats.find((x) => x.label === label);
      if (seat) seat.status = status;
      if (!known) feed.reopen(); // a seat we have not drawn: the plan changed under us
    },
    state: (state) => {
      feedLive = state === 'live';
      feedStatus.textContent = FEED_TEXT[state];
      feedStatus.dataset['state'] = state;
    },
  });
  stops.push(() => feed.close());

  const load = async (): Promise<void> => {
    try {
      show = await showDetails(showId);
    } catch (error) {
      if (!disposed) main.replaceChildren(heading('Show not found'), errorBox(error), h('p', null, h('a', { href: '#/' }, 'Back to shows')));
      return;
    }
    if (disposed) return;
    title.textContent = show.title;
    document.title = `${show.title} · Tickets`;
    details.replaceChildren(
      h('p', null, show.venue, ' · ', h('time', { datetime: show.starts_at }, formatShowTime(show.starts_at, show.time_zone))),
    );
    drawHoldSlot();
    updateSelection([]);
    feed.open();
    try {
      const seatMap = await getSeatMap(showId);
      // The stream's snapshot is at least as new: keep it if it came first.
      if (!disposed && !map) draw(seatMap);
    } catch (error) {
      if (!disposed && !map) mapArea.replaceChildren(errorBox(error));
    }
  };
  void load();

  return () => {
    disposed = true;
    for (const stop of stops) stop();
  };
};
