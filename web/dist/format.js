// Formatting of money (minor units, ISO currency), dates in a show's own
// time zone, countdowns (mm:ss) and status words for people.
const moneyFormats = new Map();
function moneyFormat(currency) {
    let format = moneyFormats.get(currency);
    if (!format) {
        try {
            format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
        }
        catch {
            format = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
        }
        moneyFormats.set(currency, format);
    }
    return format;
}
/**
 * `8000, "EUR"` → `€80.00`. Minor units are divided by the currency's own
 * decimals (100 for EUR and most others, 1 for JPY), as the engine's PDFs do.
 */
export function formatMoney(minor, currency) {
    const format = moneyFormat(currency);
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
}
/** A show's start in its venue's time zone (falls back to UTC). */
export function formatShowTime(startsAt, timeZone) {
    if (!startsAt)
        return 'Date to be announced';
    const date = new Date(startsAt);
    if (Number.isNaN(date.getTime()))
        return startsAt;
    const options = {
        weekday: 'short',
        day: 'numeric',
        month: 'short',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        timeZoneName: 'short',
    };
    try {
        return new Intl.DateTimeFormat(undefined, { ...options, timeZone: timeZone || 'UTC' }).format(date);
    }
    catch {
        return new Intl.DateTimeFormat(undefined, { ...options, timeZone: 'UTC' }).format(date);
    }
}
/** A moment in the reader's own zone (issue times and the like). */
export function formatLocalTime(at) {
    const date = new Date(at);
    return Number.isNaN(date.getTime())
        ? at
        : new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}
/** Milliseconds left → `mm:ss` (`0:00` once past; minutes may exceed 59). */
export function formatCountdown(msLeft) {
    const total = Math.max(0, Math.ceil(msLeft / 1000));
    const minutes = Math.floor(total / 60);
    const seconds = total % 60;
    return `${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}`;
}
export const SEAT_STATUS_TEXT = {
    available: 'available',
    held: 'held',
    sold: 'sold',
};
export const ORDER_STATUS_TEXT = {
    cart: 'In cart',
    checkout: 'Payment in progress',
    paid: 'Paid',
    payment_failed: 'Payment failed',
    cancelled: 'Cancelled',
    expired: 'Expired',
    refunded: 'Refunded',
};
export const TICKET_STATUS_TEXT = {
    issued: 'Valid',
    checked_in: 'Checked in',
    voided: 'Voided',
};
