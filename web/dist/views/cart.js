// The cart: the customer's payable orders (status cart, or payment_failed
// to retry with another card), their items and total, a test card to pay
// with (tok_visa pays, tok_declined is declined, tok_timeout times out
// once and is retried by the engine) and the checkout's outcome.
import { ApiError, checkout, getOrder, listOrders, newIdempotencyKey, removeFromCart } from '../api.js';
import { announce, errorBox, fill, h } from '../dom.js';
import { formatMoney } from '../format.js';
import { session } from '../session.js';
import { detachReservation, memory } from '../state.js';
import { heading, loginPrompt, orderBadge, showLink, startCountdown } from './common.js';
const PAYABLE = ['cart', 'payment_failed', 'checkout'];
const TEST_CARDS = [
    ['tok_visa', 'Test Visa card (payment succeeds)'],
    ['tok_declined', 'Test card that is declined'],
    ['tok_timeout', 'Test card whose provider times out'],
];
/** How long a checkout may stay "in progress" before we stop asking (1 s apart). */
const CHECKOUT_POLLS = 30;
export const cartView = (main) => {
    const stops = [];
    let disposed = false;
    const body = h('div', { class: 'cart' }, h('p', { role: 'status' }, 'Loading your cart…'));
    main.replaceChildren(heading('Cart'), body);
    if (!session().loggedIn) {
        body.replaceChildren(loginPrompt('to see your cart.'));
        return;
    }
    const orderCard = (initial) => {
        const card = h('article', { class: 'order-card' });
        let cardStops = [];
        let pendingPay = null;
        const render = (order, outcome) => {
            cardStops.forEach((stop) => stop());
            cardStops = [];
            card.dataset['orderId'] = order.order_id;
            card.dataset['orderStatus'] = order.status;
            const message = h('div', { class: 'message-slot' });
            const payable = order.status === 'cart' || order.status === 'payment_failed';
            const rows = order.items.map((item) => {
                const remove = h('button', { type: 'button', class: 'secondary small' }, 'Remove');
                remove.addEventListener('click', async () => {
                    remove.disabled = true;
                    try {
                        const updated = await removeFromCart(order.order_id, item.reservation_id);
                        detachReservation(item.reservation_id);
                        announce(`Seats ${item.seat_labels.join(', ')} removed from the cart; they stay held until the hold ends.`);
                        render(updated);
                    }
                    catch (error) {
                        fill(message, errorBox(error));
                        remove.disabled = false;
                    }
                });
                return h('tr', { 'data-reservation-id': item.reservation_id }, h('td', null, showLink(item.show_id)), h('td', null, item.seat_labels.join(', ')), h('td', { class: 'num' }, formatMoney(item.price_minor, order.currency)), h('td', null, order.status === 'cart' ? remove : null));
            });
            const clock = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
            if (order.expires_at && PAYABLE.includes(order.status)) {
                cardStops.push(startCountdown(clock, order.expires_at, () => {
                    fill(message, h('p', { class: 'notice notice-error', role: 'alert' }, 'The seats in this cart are no longer held.'));
                    void getOrder(order.order_id).then((fresh) => !disposed && render(fresh), () => undefined);
                }));
            }
            const tokenSelect = h('select', { id: `card-${order.order_id}`, name: 'payment_token' }, TEST_CARDS.map(([token, text]) => h('option', { value: token }, text)));
            const payButton = h('button', { type: 'submit', class: 'pay' }, `Pay ${formatMoney(order.total_minor, order.currency)}`);
            const form = h('form', { class: 'pay-form' }, h('div', { class: 'field' }, h('label', { for: tokenSelect.id }, 'Card'), tokenSelect), payButton);
            form.addEventListener('submit', async (event) => {
                event.preventDefault();
                const token = tokenSelect.value;
                const key = pendingPay?.token === token ? pendingPay.key : newIdempotencyKey();
                pendingPay = { token, key };
                payButton.disabled = true;
                payButton.textContent = 'Paying…';
                card.querySelector('.failure-note')?.remove(); // the last attempt's outcome, now stale
                fill(message, h('p', { role: 'status' }, 'Paying…'));
                try {
                    const result = await checkout(order.order_id, token, key);
                    pendingPay = null;
                    if (disposed)
                        return;
                    if (result.status === 'checkout') {
                        render(result, h('p', { role: 'status' }, 'The payment is being processed…'));
                        void settle(result.order_id);
                    }
                    else {
                        render(result);
                    }
                }
                catch (error) {
                    if (error instanceof ApiError && error.status !== 0)
                        pendingPay = null;
                    if (disposed)
                        return;
                    fill(message, errorBox(error));
                    payButton.disabled = false;
                    payButton.textContent = `Pay ${formatMoney(order.total_minor, order.currency)}`;
                }
            });
            fill(card, h('h2', null, `Order ${order.order_id} `, orderBadge(order.status)), order.items.length
                ? h('table', { class: 'items' }, h('caption', { class: 'visually-hidden' }, `Items of order ${order.order_id}`), h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Show'), h('th', { scope: 'col' }, 'Seats'), h('th', { scope: 'col', class: 'num' }, 'Price'), h('td', null))), h('tbody', null, rows), h('tfoot', null, h('tr', null, h('th', { scope: 'row', colspan: 2 }, 'Total'), h('td', { class: 'num cart-total', 'data-total-minor': order.total_minor }, formatMoney(order.total_minor, order.currency)), h('td', null))))
                : h('p', null, 'This cart is empty.'), order.expires_at && PAYABLE.includes(order.status) ? h('p', null, 'Seats held for ', clock) : null, order.status === 'payment_failed'
                ? h('p', { class: 'notice notice-error failure-note', role: 'alert' }, `Payment failed: ${order.failure_reason || 'the payment was not accepted'}. Try another card.`)
                : null, order.status === 'paid'
                ? h('p', { class: 'notice notice-ok', role: 'status' }, 'Paid. Your tickets are being issued: ', h('a', { href: '#/orders' }, 'see your orders'), '.')
                : null, order.status === 'checkout' && !outcome ? h('p', { role: 'status' }, 'A payment for this order is in progress.') : null, outcome ?? null, payable && order.items.length ? form : null, message);
        };
        /** A checkout still in progress: ask again every second, bounded. */
        const settle = async (orderId) => {
            for (let i = 0; i < CHECKOUT_POLLS && !disposed; i += 1) {
                await new Promise((resolve) => window.setTimeout(resolve, 1000));
                if (disposed)
                    return;
                try {
                    const order = await getOrder(orderId);
                    if (order.status !== 'checkout') {
                        render(order);
                        return;
                    }
                }
                catch {
                    // keep asking until the bound
                }
            }
            if (!disposed) {
                const order = await getOrder(orderId).catch(() => null);
                if (order)
                    render(order, h('p', { class: 'notice' }, 'The payment is still in progress; check your orders in a moment.'));
            }
        };
        stops.push(() => cardStops.forEach((stop) => stop()));
        render(initial);
        if (initial.status === 'checkout')
            void settle(initial.order_id);
        return card;
    };
    const load = async () => {
        try {
            const page = await listOrders(null, 50);
            let orders = page.orders.filter((order) => PAYABLE.includes(order.status));
            const cartId = memory.cartOrderId;
            if (cartId && !page.orders.some((order) => order.order_id === cartId)) {
                const cart = await getOrder(cartId).catch(() => null);
                if (cart && PAYABLE.includes(cart.status))
                    orders = [cart, ...orders];
            }
            if (disposed)
                return;
            if (!orders.length) {
                body.replaceChildren(h('p', null, 'Your cart is empty. ', h('a', { href: '#/' }, 'Find a show'), '.'));
                return;
            }
            body.replaceChildren(...orders.map(orderCard));
        }
        catch (error) {
            if (disposed)
                return;
            body.replaceChildren(error instanceof ApiError && error.status === 401 ? loginPrompt('to see your cart.') : errorBox(error));
        }
    };
    void load();
    return () => {
        disposed = true;
        stops.forEach((stop) => stop());
    };
};
