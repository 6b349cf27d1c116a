// What this page remembers between views, in memory only: the holds made
// here (the API has no "my reservations" list), the customer's cart order,
// where to go back to after logging in, and a cache of show details.
import { getShow } from './api.js';
const reservations = new Map();
const shows = new Map();
export const memory = {
    /** The customer's open cart, as last answered by the server. */
    cartOrderId: null,
    /** The route to return to after a login. */
    returnTo: null,
};
/** Records a hold; `orderId` undefined keeps what was known, null means "not in a cart". */
export function rememberReservation(reservation, orderId) {
    const known = reservations.get(reservation.reservation_id);
    reservations.set(reservation.reservation_id, {
        reservation,
        orderId: orderId === undefined ? known?.orderId ?? null : orderId,
    });
}
/** A hold taken out of the cart is still held, and no longer in a cart. */
export function detachReservation(reservationId) {
    const known = reservations.get(reservationId);
    if (known)
        known.orderId = null;
}
export function forgetReservation(reservationId) {
    reservations.delete(reservationId);
}
/** Reservations made in this page for a show, oldest first. */
export function reservationsFor(showId) {
    return [...reservations.values()].filter((known) => known.reservation.show_id === showId);
}
/** Forget everything that belonged to the logged-out customer. */
export function forgetCustomer() {
    reservations.clear();
    memory.cartOrderId = null;
}
/** A show's details, fetched once per page load. */
export function showDetails(showId) {
    let show = shows.get(showId);
    if (!show) {
        show = getShow(showId);
        shows.set(showId, show);
        show.catch(() => shows.delete(showId));
    }
    return show;
}
export function cacheShow(show) {
    shows.set(show.show_id, Promise.resolve(show));
}
