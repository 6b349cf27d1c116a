// The list of shows (GET /shows), a page at a time with "More shows".
import { listShows } from '../api.js';
import { errorBox, fill, h } from '../dom.js';
import { formatShowTime } from '../format.js';
import { cacheShow } from '../state.js';
import { heading } from './common.js';
const STATUS_TEXT = {
    scheduled: 'Not on sale yet',
    published: 'On sale',
    cancelled: 'Cancelled',
};
function showCard(show) {
    return h('li', { class: 'show-card', 'data-show-id': show.show_id }, h('h2', null, h('a', { href: `#/shows/${encodeURIComponent(show.show_id)}` }, show.title)), h('p', null, show.venue, ' · ', h('time', { datetime: show.starts_at }, formatShowTime(show.starts_at, show.time_zone))), h('p', null, h('span', { class: `badge badge-show-${show.status}` }, STATUS_TEXT[show.status] ?? show.status), ` ${show.seat_count.toLocaleString()} seats`));
}
export const showsView = (main) => {
    const list = h('ul', { class: 'show-list' });
    const status = h('div', { role: 'status' }, 'Loading shows…');
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More shows');
    let pageToken = null;
    let disposed = false;
    const load = async () => {
        more.disabled = true;
        try {
            const page = await listShows(pageToken);
            if (disposed)
                return;
            page.shows.forEach(cacheShow);
            list.append(...page.shows.map(showCard));
            pageToken = page.next_page_token || null;
            more.hidden = !pageToken;
            fill(status, list.children.length ? '' : 'No shows yet.');
        }
        catch (error) {
            if (!disposed)
                fill(status, errorBox(error));
        }
        finally {
            more.disabled = false;
        }
    };
    more.addEventListener('click', () => void load());
    main.replaceChildren(heading('Shows'), status, list, more);
    void load();
    return () => {
        disposed = true;
    };
};
