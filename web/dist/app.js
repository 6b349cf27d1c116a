// Entry point: hash routing between the views, the navigation bar (which
// follows the login state), logout, and the start-up session check.
//   #/                shows          #/shows/{id}   a show and its seat map
//   #/cart            cart           #/orders       orders and tickets
//   #/login, #/register
import { logout } from './api.js';
import { announce, h } from './dom.js';
import { onSessionChange, restoreSession, session, setSession } from './session.js';
import { forgetCustomer } from './state.js';
import { loginView, registerView } from './views/auth.js';
import { cartView } from './views/cart.js';
import { ordersView } from './views/orders.js';
import { showView } from './views/show.js';
import { showsView } from './views/shows.js';
const ROUTES = [
    [/^#?\/?$/, showsView, '#/'],
    [/^#\/shows\/?$/, showsView, '#/'],
    [/^#\/shows\/([^/]+)$/, showView, '#/'],
    [/^#\/cart$/, cartView, '#/cart'],
    [/^#\/orders$/, ordersView, '#/orders'],
    [/^#\/login$/, loginView, '#/login'],
    [/^#\/register$/, registerView, '#/register'],
];
const main = document.getElementById('main');
const nav = document.getElementById('nav');
let stopView;
let firstRender = true;
function route() {
    const hash = location.hash || '#/';
    if (!hash.startsWith('#/') && hash !== '#')
        return; // an in-page anchor, not a route
    stopView?.();
    stopView = undefined;
    let navKey = '';
    for (const [pattern, view, key] of ROUTES) {
        const match = pattern.exec(hash);
        if (match) {
            navKey = key;
            stopView = view(main, ...match.slice(1).map(decodeURIComponent));
            break;
        }
    }
    if (!navKey) {
        const title = h('h1', { tabindex: -1, class: 'view-heading' }, 'Page not found');
        main.replaceChildren(title, h('p', null, h('a', { href: '#/' }, 'Back to the shows')));
    }
    drawNav(navKey);
    if (!firstRender)
        main.querySelector('h1')?.focus();
    firstRender = false;
}
function drawNav(current = nav.dataset['current'] ?? '') {
    nav.dataset['current'] = current;
    const link = (href, text) => h('li', null, h('a', { href, 'aria-current': href === current ? 'page' : null }, text));
    const { loggedIn, email } = session();
    const logoutButton = h('button', { type: 'button', class: 'link-button', id: 'logout' }, 'Log out');
    logoutButton.addEventListener('click', async () => {
        logoutButton.disabled = true;
        try {
            await logout();
        }
        catch {
            // the token is dropped either way; the cookie may already be gone
        }
        forgetCustomer();
        setSession({ loggedIn: false, email: null });
        announce('You are logged out.');
        if (location.hash === '#/' || location.hash === '')
            route();
        else
            location.hash = '#/';
    });
    nav.replaceChildren(h('ul', { class: 'nav-main' }, link('#/', 'Shows'), loggedIn ? link('#/cart', 'Cart') : null, loggedIn ? link('#/orders', 'My orders') : null), h('ul', { class: 'nav-account' }, loggedIn
        ? [h('li', { class: 'whoami', 'data-logged-in': 'true' }, email ? `Logged in as ${email}` : 'Logged in'), h('li', null, logoutButton)]
        : [link('#/login', 'Log in'), link('#/register', 'Register')]));
}
function skipLink() {
    document.querySelector('.skip-link')?.addEventListener('click', (event) => {
        event.preventDefault();
        main.focus();
    });
}
async function start() {
    skipLink();
    onSessionChange(() => drawNav());
    window.addEventListener('hashchange', route);
    drawNav('');
    await restoreSession();
    route();
}
void start();
