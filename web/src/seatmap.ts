// The seat map: one SVG per section, a row of seat glyphs per row. Each
// seat is a focusable role="checkbox" with data-label/data-status and a
// spoken label ("Seat A-1, section Stalls, row A, €80.00, available").
// Fill colour tells the price category; status is also told by shape so
// it never rests on hue alone: held = hatched, sold = dark with a cross,
// selected = thick outline with a check mark. Keyboard: Tab reaches one
// seat per section (roving tabindex), arrows move between seats and rows,
// Home/End go to a row's ends, Space/Enter toggle.

import { announce, h, s } from './dom.js';
import { formatMoney } from './format.js';
import type { Seat, SeatMap, SeatStatus } from './types.js';

/** Price category fills: light enough for a dark outline, check and stripes (≥ 3:1). */
const PRICE_COLOURS = [
  '#8ecae6', // light blue
  '#ffb703', // amber
  '#90d26d', // green
  '#f4a3c0', // pink
  '#c3b1e1', // lavender
  '#f9e07f', // yellow
  '#7fd6c2', // teal
  '#ffad7a', // orange
  '#b8c4cf', // blue grey
  '#e0c097', // sand
];

// Seats 24 px apart: pointer targets meet WCAG 2.5.8 (24 × 24 CSS px) by spacing.
const CELL = 24; // distance between seat origins
const SEAT = 18; // seat glyph size
const ROW_LABEL = 40; // room for the row name on the left
const PAD = 6;

interface SeatView {
  seat: Seat;
  el: SVGGElement;
  section: number;
  /** Index of its row among all rows of the map. */
  row: number;
  x: number;
}

export interface SeatMapOptions {
  maxSelection: number;
  /** False when the show is not on sale: the map is then read-only. */
  selectable: boolean;
  onSelectionChange: (labels: string[]) => void;
}

let patternIds = 0;

function hatchPattern(id: string): SVGPatternElement {
  return s(
    'pattern',
    { id, width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    s('rect', { width: 4, height: 4, fill: 'rgba(255,255,255,0.5)' }),
    s('line', { x1: 1, y1: 0, x2: 1, y2: 4, stroke: '#1a1a1a', 'stroke-width': 1.5 }),
  );
}

/** The glyph of one seat: body, hatch (held), cross (sold), check (selected), focus ring. */
function seatGlyph(fill: string, hatchId: string): SVGElement[] {
  return [
    s('rect', { class: 'seat-focus', x: -3.5, y: -3.5, width: SEAT + 7, height: SEAT + 7, rx: 5 }),
    s('rect', { class: 'seat-body', width: SEAT, height: SEAT, rx: 3, fill }),
    s('rect', { class: 'seat-hatch', width: SEAT, height: SEAT, rx: 3, fill: `url(#${hatchId})` }),
    s('path', { class: 'seat-cross', d: 'M4.5 4.5L13.5 13.5M13.5 4.5L4.5 13.5' }),
    s('path', { class: 'seat-check', d: 'M4 9.5L7.6 13L14 5' }),
  ];
}

export class SeatMapView {
  readonly element: HTMLElement;
  private readonly views = new Map<string, SeatView>();
  private readonly rows: SeatView[][] = [];
  private readonly selected = new Set<string>();
  private readonly mine = new Set<string>();
  private readonly colours = new Map<number, string>();
  /** Per section, the one seat that Tab reaches (roving tabindex). */
  private readonly tabStops = new Map<number, SeatView>();
  private readonly info: HTMLElement;
  private readonly currency: string;
  private readonly options: SeatMapOptions;

  constructor(map: SeatMap, options: SeatMapOptions) {
    this.currency = map.currency;
    this.options = options;
    const prices = [...new Set(map.seats.map((seat) => seat.price_minor))].sort((a, b) => b - a);
    prices.forEach((price, i) => this.colours.set(price, PRICE_COLOURS[i % PRICE_COLOURS.length] ?? '#ccc'));

    this.info = h('p', { class: 'seat-info', 'aria-hidden': 'true' }, '\u00a0');
    const sections = this.drawSections(map.seats);
    this.element = h(
      'div',
      { class: 'seatmap' },
      this.legend(prices),
      h('div', { class: 'stage', 'aria-hidden': 'true' }, 'Stage'),
      sections,
      this.info,
    );
    this.element.addEventListener('click', (event) => this.onClick(event));
    this.element.addEventListener('keydown', (event) => this.onKey(event));
    this.element.addEventListener('focusin', (event) => this.showInfo(event));
    this.element.addEventListener('mouseover', (event) => this.showInfo(event));
  }

  /** Labels currently selected, in the order they were picked. */
  selection(): string[] {
    return [...this.selected];
  }

  clearSelection(): void {
    const labels = [...this.selected];
    this.selected.clear();
    for (const label of labels) this.paint(label);
    this.options.onSelectionChange([]);
  }

  /** Marks seats this buyer holds (or stops marking them). */
  setMine(labels: string[], mine: boolean): void {
    for (const label of labels) {
      if (mine) this.mine.add(label);
      else this.mine.delete(label);
      this.paint(label);
    }
  }

  /**
   * Applies a seat's new status. A selected seat that someone else took is
   * deselected and announced. Unknown labels are ignored (returns false).
   */
  setStatus(label: string, status: SeatStatus): boolean {
    const view = this.views.get(label);
    if (!view) return false;
    if (view.seat.status === status) return true;
    view.seat.status = status;
    if (status !== 'available' && this.selected.has(label)) {
      this.selected.delete(label);
      announce(`Seat ${label} was just taken by someone else and is no longer selected.`);
      this.paint(label);
      this.options.onSelectionChange(this.selection());
    } else {
      this.paint(label);
    }
    return true;
  }

  /** Applies a fresh snapshot; false if its seats differ from the drawn ones (redraw then). */
  applySnapshot(map: SeatMap): boolean {
    if (map.seats.length !== this.views.size || !map.seats.every((seat) => this.views.has(seat.label))) {
      return false;
    }
    for (const seat of map.seats) this.setStatus(seat.label, seat.status);
    return true;
  }

  private drawSections(seats: Seat[]): HTMLElement[] {
    // Group by section, then row, keeping the order the plan gives.
    const sections: Array<{ name: string; rows: Array<{ name: string; seats: Seat[] }> }> = [];
    for (const seat of seats) {
      let section = sections[sections.length - 1];
      if (!section || section.name !== seat.section) {
        section = sections.find((x) => x.name === seat.section);
        if (!section) sections.push((section = { name: seat.section, rows: [] }));
      }
      let row = section.rows[section.rows.length - 1];
      if (!row || row.name !== seat.row) {
        row = section.rows.find((x) => x.name === seat.row);
        if (!row) section.rows.push((row = { name: seat.row, seats: [] }));
      }
      row.seats.push({ ...seat });
    }

    return sections.map((section, sectionIndex) => {
      const hatchId = `hatch-${++patternIds}`;
      const widest = Math.max(...section.rows.map((row) => row.seats.length));
      const width = ROW_LABEL + widest * CELL + PAD * 2;
      const height = section.rows.length * CELL + PAD * 2;
      const headingId = `section-${patternIds}`;
      const svg = s(
        'svg',
        {
          class: 'section-map',
          role: 'group',
          'aria-labelledby': headingId,
          width,
          height,
          viewBox: `0 0 ${width} ${height}`,
        },
        s('defs', null, hatchPattern(hatchId)),
      );
      // Shrinks to fit down to 70 % (then the section scrolls sideways). Set
      // through the CSSOM, which a Content-Security-Policy without
      // 'unsafe-inline' still allows.
      svg.style.maxWidth = `${width}px`;
      svg.style.minWidth = `${Math.round(width * 0.7)}px`;
      let first = true;
      section.rows.forEach((row, r) => {
        const rowIndex = this.rows.length;
        const rowViews: SeatView[] = [];
        this.rows.push(rowViews);
        const y = PAD + r * CELL;
        const offset = ((widest - row.seats.length) * CELL) / 2;
        const rowGroup = s(
          'g',
          { role: 'group', 'aria-label': `Row ${row.name}` },
          s(
            'text',
            { class: 'row-name', x: PAD + ROW_LABEL - 10, y: y + SEAT / 2, 'aria-hidden': 'true' },
            row.name,
          ),
        );
        row.seats.forEach((seat, i) => {
          const x = PAD + ROW_LABEL + offset + i * CELL;
          const el = s(
            'g',
            {
              class: 'seat',
              transform: `translate(${x} ${y})`,
              role: 'checkbox',
              tabindex: first ? 0 : -1,
              'data-label': seat.label,
              'data-price-minor': seat.price_minor,
            },
            seatGlyph(this.colours.get(seat.price_minor) ?? '#ccc', hatchId),
          );
          const view: SeatView = { seat, el, section: sectionIndex, row: rowIndex, x };
          if (first) this.tabStops.set(sectionIndex, view);
          first = false;
          this.views.set(seat.label, view);
          rowViews.push(view);
          rowGroup.append(el);
          this.paint(seat.label);
        });
        svg.append(rowGroup);
      });
      return h(
        'section',
        { class: 'section' },
        h('h3', { id: headingId }, section.name),
        h('div', { class: 'section-scroll' }, svg),
      );
    });
  }

  private legend(prices: number[]): HTMLElement {
    const hatchId = `hatch-${++patternIds}`;
    const sample = (status: SeatStatus, selected: boolean, fill: string): SVGSVGElement =>
      s(
        'svg',
        { width: SEAT + 8, height: SEAT + 8, viewBox: `-4 -4 ${SEAT + 8} ${SEAT + 8}`, 'aria-hidden': 'true' },
        s('defs', null, hatchPattern(hatchId)),
        s(
          'g',
          { class: 'seat', 'data-status': status, 'aria-checked': selected ? 'true' : 'false' },
          seatGlyph(fill, hatchId),
        ),
      );
    const neutral = '#ffffff';
    return h(
      'div',
      { class: 'legend' },
      h('h3', { class: 'visually-hidden' }, 'Legend'),
      h(
        'ul',
        { class: 'legend-list', 'aria-label': 'Seat status' },
        h('li', null, sample('available', false, neutral), 'Available'),
        h('li', null, sample('available', true, neutral), 'Selected'),
        h('li', null, sample('held', false, neutral), 'Held'),
        h('li', null, sample('sold', false, neutral), 'Sold'),
      ),
      h(
        'ul',
        { class: 'legend-list', 'aria-label': 'Price categories' },
        prices.map((price) =>
          h(
            'li',
            { 'data-price': price },
            sample('available', false, this.colours.get(price) ?? '#ccc'),
            formatMoney(price, this.currency),
          ),
        ),
      ),
    );
  }

  private describe(view: SeatView): string {
    const { seat } = view;
    const status = seat.status === 'held' && this.mine.has(seat.label) ? 'held by you' : seat.status;
    return `Seat ${seat.label}, section ${seat.section}, row ${seat.row}, ${formatMoney(seat.price_minor, this.currency)}, ${status}`;
  }

  private paint(label: string): void {
    const view = this.views.get(label);
    if (!view) return;
    const { el, seat } = view;
    el.setAttribute('data-status', seat.status);
    el.setAttribute('aria-checked', this.selected.has(label) ? 'true' : 'false');
    el.setAttribute('aria-label', this.describe(view));
    if (this.mine.has(label)) el.setAttribute('data-mine', 'true');
    else el.removeAttribute('data-mine');
    if (seat.status !== 'available' && !this.selected.has(label)) el.setAttribute('aria-disabled', 'true');
    else el.removeAttribute('aria-disabled');
  }

  private seatOf(event: Event): SeatView | null {
    const target = event.target instanceof Element ? event.target.closest('.seat[data-label]') : null;
    const label = target?.getAttribute('data-label');
    return label ? this.views.get(label) ?? null : null;
  }

  private onClick(event: Event): void {
    const view = this.seatOf(event);
    if (!view) return;
    this.focus(view);
    this.toggle(view);
  }

  private toggle(view: SeatView): void {
    const { label, status } = view.seat;
    if (this.selected.has(label)) {
      this.selected.delete(label);
    } else if (!this.options.selectable) {
      announce('Seats for this show are not on sale.');
      return;
    } else if (status !== 'available') {
      announce(`Seat ${label} is ${status === 'held' && this.mine.has(label) ? 'held by you' : status}.`);
      return;
    } else if (this.selected.size >= this.options.maxSelection) {
      announce(`You can select at most ${this.options.maxSelection} seats at once.`);
      return;
    } else {
      this.selected.add(label);
    }
    this.paint(label);
    this.options.onSelectionChange(this.selection());
  }

  private onKey(event: KeyboardEvent): void {
    const view = this.seatOf(event);
    if (!view) return;
    const row = this.rows[view.row] ?? [];
    const index = row.indexOf(view);
    let next: SeatView | undefined;
    switch (event.key) {
      case ' ':
      case 'Enter':
        event.preventDefault();
        this.toggle(view);
        return;
      case 'ArrowLeft':
        next = row[index - 1];
        break;
      case 'ArrowRight':
        next = row[index + 1];
        break;
      case 'Home':
        next = row[0];
        break;
      case 'End':
        next = row[row.length - 1];
        break;
      case 'ArrowUp':
        next = this.nearest(this.rows[view.row - 1], view.x);
        break;
      case 'ArrowDown':
        next = this.nearest(this.rows[view.row + 1], view.x);
        break;
      default:
        return;
    }
    event.preventDefault();
    if (next) this.focus(next);
  }

  private nearest(row: SeatView[] | undefined, x: number): SeatView | undefined {
    let best: SeatView | undefined;
    for (const candidate of row ?? []) {
      if (!best || Math.abs(candidate.x - x) < Math.abs(best.x - x)) best = candidate;
    }
    return best;
  }

  /** Moves focus to a seat; it becomes its section's one Tab stop. */
  private focus(view: SeatView): void {
    const previous = this.tabStops.get(view.section);
    if (previous && previous !== view) previous.el.setAttribute('tabindex', '-1');
    this.tabStops.set(view.section, view);
    view.el.setAttribute('tabindex', '0');
    view.el.focus();
  }

  private showInfo(event: Event): void {
    const view = this.seatOf(event);
    if (!view) return;
    const selected = this.selected.has(view.seat.label) ? ', selected' : '';
    this.info.textContent = `${this.describe(view)}${selected}`;
  }
}
