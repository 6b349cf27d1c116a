// HTTP client for the engine's JSON API under /api/v1 (same origin).
// The access token lives only in this module's memory (never in Web
// Storage); the server's HttpOnly cookie carries the session across
// reloads, so every request goes with credentials: 'same-origin'. Every
// non-2xx answer becomes an ApiError carrying the RFC 9457 problem body.
export const API_BASE = '/api/v1';
let accessToken = null;
let clockOffsetMs = 0;
const unauthorizedListeners = [];
export function setAccessToken(token) {
    accessToken = token;
}
/** Called whenever the server answers 401 (token expired, logged out elsewhere). */
export function onUnauthorized(listener) {
    unauthorizedListeners.push(listener);
}
/**
 * The current time by the server's clock, as far as the `Date` headers of
 * its answers tell (second resolution: offsets under 2 s are ignored), so a
 * countdown to `expires_at` is right even when this machine's clock is off.
 */
export function serverNow() {
    return Date.now() + clockOffsetMs;
}
export class ApiError extends Error {
    status;
    problem;
    /** Seconds from a Retry-After header (429/503), if any. */
    retryAfter;
    constructor(status, problem, retryAfter) {
        super(problem.detail ?? problem.title ?? `HTTP ${status}`);
        this.name = 'ApiError';
        this.status = status;
        this.problem = problem;
        this.retryAfter = retryAfter;
    }
}
/** A fresh key for the Idempotency-Key header (crypto.randomUUID needs a secure context). */
export function newIdempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
function url(path, query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
        if (value !== null && value !== undefined && value !== '')
            params.set(key, String(value));
    }
    const qs = params.toString();
    return `${API_BASE}${path}${qs ? `?${qs}` : ''}`;
}
function noteServerClock(response) {
    const date = response.headers.get('Date');
    if (!date)
        return;
    const server = Date.parse(date);
    if (Number.isNaN(server))
        return;
    const offset = server - Date.now();
    clockOffsetMs = Math.abs(offset) >= 2000 ? offset : 0;
}
function parseRetryAfter(value) {
    if (!value)
        return null;
    const seconds = Number(value);
    if (Number.isFinite(seconds))
        return Math.max(0, Math.round(seconds));
    const at = Date.parse(value);
    return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}
async function problemOf(response) {
    const type = response.headers.get('Content-Type') ?? '';
    if (type.includes('json')) {
        try {
            const body = await response.json();
            if (body && typeof body === 'object')
                return body;
        }
        catch {
            // fall through to a problem made from the status line
        }
    }
    return { status: response.status, title: response.statusText || `HTTP ${response.status}` };
}
async function request(method, path, options = {}) {
    const headers = { Accept: 'application/json' };
    if (options.body !== undefined)
        headers['Content-Type'] = 'application/json';
    if (accessToken)
        headers['Authorization'] = `Bearer ${accessToken}`;
    if (options.idempotencyKey)
        headers['Idempotency-Key'] = options.idempotencyKey;
    let response;
    try {
        response = await fetch(url(path, options.query), {
            method,
            headers,
            credentials: 'same-origin',
            body: options.body === undefined ? null : JSON.stringify(options.body),
        });
    }
    catch {
        throw new ApiError(0, { title: 'Network error', detail: 'The server cannot be reached. Check your connection and try again.' }, null);
    }
    noteServerClock(response);
    if (!response.ok) {
        const problem = await problemOf(response);
        if (response.status === 401) {
            accessToken = null;
            for (const listener of unauthorizedListeners)
                listener();
        }
        throw new ApiError(response.status, problem, parseRetryAfter(response.headers.get('Retry-After')));
    }
    if (response.status === 204)
        return undefined;
    return (await response.json());
}
// --- identity ---
export function register(email, password, displayName) {
    return request('POST', '/auth/register', { body: { email, password, display_name: displayName } });
}
export async function login(email, password) {
    const result = await request('POST', '/auth/login', { body: { email, password } });
    accessToken = result.access_token;
    return result;
}
export async function logout() {
    try {
        await request('POST', '/auth/logout');
    }
    finally {
        accessToken = null;
    }
}
// --- catalog and inventory ---
export function listShows(pageToken, pageSize = 20) {
    return request('GET', '/shows', { query: { page_size: pageSize, page_token: pageToken } });
}
export function getShow(showId) {
    return request('GET', `/shows/${encodeURIComponent(showId)}`);
}
export function getSeatMap(showId) {
    return request('GET', `/shows/${encodeURIComponent(showId)}/seatmap`);
}
/** The URL of the seat map's server-sent event stream. */
export function seatMapEventsUrl(showId) {
    return url(`/shows/${encodeURIComponent(showId)}/seatmap/events`);
}
export function reserveSeats(showId, seatLabels, idempotencyKey) {
    return request('POST', '/reservations', { body: { show_id: showId, seat_labels: seatLabels }, idempotencyKey });
}
export function releaseReservation(reservationId) {
    return request('DELETE', `/reservations/${encodeURIComponent(reservationId)}`);
}
// --- ordering ---
export function addToCart(reservationId) {
    return request('POST', '/cart/items', { body: { reservation_id: reservationId } });
}
export function removeFromCart(orderId, reservationId) {
    return request('DELETE', `/cart/items/${encodeURIComponent(reservationId)}`, { query: { order_id: orderId } });
}
export function checkout(orderId, paymentToken, idempotencyKey) {
    return request('POST', `/orders/${encodeURIComponent(orderId)}/checkout`, {
        body: { payment_token: paymentToken },
        idempotencyKey,
    });
}
export function listOrders(pageToken, pageSize = 20) {
    return request('GET', '/orders', { query: { page_size: pageSize, page_token: pageToken } });
}
export function getOrder(orderId) {
    return request('GET', `/orders/${encodeURIComponent(orderId)}`);
}
// --- fulfillment ---
export function listTickets(orderId, pageToken) {
    return request('GET', `/orders/${encodeURIComponent(orderId)}/tickets`, { query: { page_token: pageToken } });
}
/** A ticket's PDF; the link works through the session cookie. */
export function ticketPdfUrl(ticketId) {
    return `${API_BASE}/tickets/${encodeURIComponent(ticketId)}.pdf`;
}
