// Live seat-map updates over server-sent events
// (/shows/{id}/seatmap/events): a `snapshot` first, then `change` events.
// The browser's own reconnect resends Last-Event-ID, so a dropped
// connection resumes where it stopped. A `resync` event, or a stream the
// browser gave up on, is answered by opening a new stream (no
// Last-Event-ID, hence a fresh snapshot), with a growing pause between
// failed attempts; so is the server's own `event: problem` (the stream
// failed; its data is a problem body).

import { seatMapEventsUrl } from './api.js';
import type { SeatChange, SeatMapSnapshot } from './types.js';

export type FeedState = 'connecting' | 'live' | 'reconnecting';

export interface FeedHandlers {
  snapshot(snapshot: SeatMapSnapshot): void;
  change(change: SeatChange): void;
  state(state: FeedState): void;
}

export class SeatMapFeed {
  private source: EventSource | null = null;
  private retryTimer: number | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly showId: string,
    private readonly handlers: FeedHandlers,
  ) {}

  open(): void {
    this.closed = false;
    this.connect();
  }

  /** Starts over with a fresh snapshot (after a resync, or when the page needs certainty). */
  reopen(): void {
    if (this.closed) return;
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.source?.close();
    this.source = null;
  }

  private connect(): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.source?.close();
    this.handlers.state('connecting');
    const source = new EventSource(seatMapEventsUrl(this.showId), { withCredentials: false });
    this.source = source;

    source.addEventListener('snapshot', (event) => {
      const data = parse<SeatMapSnapshot>(event);
      if (!data) return;
      this.failures = 0;
      this.handlers.snapshot(data);
      this.handlers.state('live');
    });
    source.addEventListener('change', (event) => {
      const data = parse<SeatChange>(event);
      if (data) this.handlers.change(data);
    });
    source.addEventListener('resync', () => {
      // The server could not keep up with us: start over from a snapshot.
      this.connect();
    });
    source.addEventListener('open', () => {
      // A resumed stream may send no snapshot: it is live once it is open.
      if (this.failures > 0) this.handlers.state('live');
    });
    source.addEventListener('problem', (event) => {
      // The server's stream failed: start over from a snapshot rather than
      // resume into the same failure.
      console.warn('seat-map stream failed:', (event as MessageEvent<string>).data);
      this.retryLater(source);
    });
    source.addEventListener('error', () => {
      if (this.source !== source || this.closed) return;
      this.handlers.state('reconnecting');
      // The browser gave up (an error status or a wrong content type): try
      // again ourselves. Otherwise it reconnects on its own, sending
      // Last-Event-ID.
      if (source.readyState === EventSource.CLOSED) this.retryLater(source);
    });
  }

  private retryLater(source: EventSource): void {
    if (this.source !== source || this.closed) return;
    this.failures += 1;
    this.handlers.state('reconnecting');
    source.close();
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }
}

function parse<T>(event: Event): T | null {
  try {
    return JSON.parse((event as MessageEvent<string>).data) as T;
  } catch {
    console.warn('unreadable seat-map event', event);
    return null;
  }
}
