// Who is logged in, as far as this page knows: set by login/logout, found
// out on load from the session cookie (a 401 from /orders means "not logged
// in"), and dropped by any 401. Views subscribe to redraw the navigation.
import { ApiError, listOrders, onUnauthorized } from './api.js';
let state = { loggedIn: false, email: null };
const listeners = [];
export function session() {
    return state;
}
export function setSession(next) {
    const changed = next.loggedIn !== state.loggedIn || next.email !== state.email;
    state = next;
    if (changed)
        for (const listener of listeners)
            listener(state);
}
/** Calls `listener` on every change; returns a function that stops that. */
export function onSessionChange(listener) {
    listeners.push(listener);
    return () => {
        const i = listeners.indexOf(listener);
        if (i >= 0)
            listeners.splice(i, 1);
    };
}
onUnauthorized(() => setSession({ loggedIn: false, email: null }));
/** On page load: does the session cookie still log us in? */
export async function restoreSession() {
    try {
        await listOrders(null, 1);
        setSession({ loggedIn: true, email: null });
    }
    catch (error) {
        if (!(error instanceof ApiError) || error.status !== 401)
            console.warn('session check failed', error);
        setSession({ loggedIn: false, email: null });
    }
}
