// The JSON shapes of the engine's HTTP API (/api/v1): snake_case fields,
// RFC 3339 times as strings, money as integer minor units beside an ISO
// 4217 currency. Errors are RFC 9457 problem bodies. A status word this
// page does not know (the server may say "unspecified") is shown as is.

export type ShowStatus = 'scheduled' | 'published' | 'cancelled';

export interface Show {
  show_id: string;
  title: string;
  venue: string;
  /** Null while the organizer has not set it. */
  starts_at: string | null;
  time_zone: string;
  currency: string;
  status: ShowStatus;
  seat_count: number;
}

export interface ShowPage {
  shows: Show[];
  next_page_token?: string | null;
}

/** A seat's status as the server knows it; "selected" is local only. */
export type SeatStatus = 'available' | 'held' | 'sold';

export interface Seat {
  label: string;
  section: string;
  row: string;
  price_minor: number;
  status: SeatStatus;
}

export interface SeatMap {
  show_id: string;
  currency: string;
  seats: Seat[];
}

/** `event: snapshot` of the seat-map stream. */
export interface SeatMapSnapshot {
  seat_map: SeatMap;
  position: string;
}

/** `event: change` of the seat-map stream. */
export interface SeatChange {
  label: string;
  status: SeatStatus;
  position: string;
}

export type ReservationStatus = 'active' | 'released' | 'expired' | 'converted';

export interface Reservation {
  reservation_id: string;
  show_id: string;
  seat_labels: string[];
  expires_at: string | null;
  status: ReservationStatus;
}

export type OrderStatus =
  | 'cart'
  | 'checkout'
  | 'paid'
  | 'payment_failed'
  | 'cancelled'
  | 'expired'
  | 'refunded';

export interface OrderItem {
  reservation_id: string;
  show_id: string;
  seat_labels: string[];
  price_minor: number;
}

export interface Order {
  order_id: string;
  status: OrderStatus;
  items: OrderItem[];
  total_minor: number;
  currency: string;
  expires_at?: string | null;
  failure_reason?: string | null;
}

export interface OrderPage {
  orders: Order[];
  next_page_token?: string | null;
}

export type TicketStatus = 'issued' | 'checked_in' | 'voided';

export interface Ticket {
  ticket_id: string;
  order_id: string;
  show_id: string;
  seat_label: string;
  section: string;
  row: string;
  holder_name: string;
  price_minor: number;
  currency: string;
  status: TicketStatus;
  qr_payload: string;
  issued_at: string | null;
  checked_in_at?: string | null;
}

export interface TicketPage {
  tickets: Ticket[];
  next_page_token?: string | null;
}

export interface User {
  user_id: string;
  email: string;
  display_name: string;
  role: string;
}

export interface LoginResult {
  access_token: string;
  expires_at: string | null;
}

export interface Violation {
  field: string;
  description: string;
}

/** RFC 9457 problem details, with the engine's `reason` and `violations`. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  reason?: string;
  violations?: Violation[];
}
