// Small DOM helpers: element builders (HTML and SVG), the polite live
// region for announcements, and the display of API problems (the detail,
// plus each field violation next to its form field).
import { ApiError } from './api.js';
function applyAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs ?? {})) {
        if (value === null || value === undefined || value === false)
            continue;
        if (typeof value === 'function') {
            el.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
        }
        else if (key === 'class') {
            el.setAttribute('class', String(value));
        }
        else {
            el.setAttribute(key, value === true ? '' : String(value));
        }
    }
}
function append(el, children) {
    for (const child of children.flat()) {
        if (child === null || child === undefined || child === false)
            continue;
        el.append(child instanceof Node ? child : String(child));
    }
}
/** `h('button', {type: 'button', onclick: f}, 'Pay')` */
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    applyAttrs(el, attrs);
    append(el, children);
    return el;
}
const SVG_NS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    applyAttrs(el, attrs);
    append(el, children);
    return el;
}
/** Says `text` through the page's polite live region (#announcer). */
export function announce(text) {
    const region = document.getElementById('announcer');
    if (!region)
        return;
    region.textContent = '';
    // A fresh text node after a tick, so the same message twice is read twice.
    window.setTimeout(() => {
        region.textContent = text;
    }, 50);
}
/** What to tell a person about a failed call: the problem's detail first. */
export function problemText(error) {
    if (error instanceof ApiError) {
        const { detail, title } = error.problem;
        let text = detail || title || `The server answered ${error.status}.`;
        if (error.retryAfter !== null && (error.status === 429 || error.status === 503)) {
            text += ` Please try again in ${error.retryAfter} s.`;
        }
        return text;
    }
    if (error instanceof Error)
        return error.message;
    return String(error);
}
/** An alert box for an error, or for a plain message. */
export function errorBox(error) {
    return h('div', { class: 'notice notice-error', role: 'alert' }, problemText(error));
}
/** Puts `content` (or nothing) into a status/alert slot. */
export function fill(slot, ...content) {
    slot.replaceChildren();
    append(slot, content);
}
/**
 * Shows a failed form submission: the detail in `summary`, and each
 * violation under the input whose `name` is its field (others are listed
 * in the summary). Previous messages are cleared first.
 */
export function showFormErrors(form, summary, error) {
    clearFormErrors(form, summary);
    const unmatched = [];
    let first = null;
    const violations = error instanceof ApiError ? error.problem.violations ?? [] : [];
    for (const violation of violations) {
        const name = violation.field.split('.').pop() ?? violation.field;
        const input = form.elements.namedItem(name);
        if (input instanceof HTMLInputElement || input instanceof HTMLSelectElement) {
            const id = `${input.id || name}-error`;
            const message = h('p', { class: 'field-error', id }, violation.description);
            input.insertAdjacentElement('afterend', message);
            input.dataset['describedby'] ??= input.getAttribute('aria-describedby') ?? '';
            input.setAttribute('aria-invalid', 'true');
            input.setAttribute('aria-describedby', `${input.dataset['describedby']} ${id}`.trim());
            first ??= input;
        }
        else {
            unmatched.push(`${violation.field}: ${violation.description}`);
        }
    }
    fill(summary, h('div', { class: 'notice notice-error', role: 'alert' }, h('p', null, problemText(error)), unmatched.length ? h('ul', null, unmatched.map((text) => h('li', null, text))) : null));
    first?.focus();
}
export function clearFormErrors(form, summary) {
    summary.replaceChildren();
    for (const message of Array.from(form.querySelectorAll('.field-error')))
        message.remove();
    for (const input of Array.from(form.querySelectorAll('[aria-invalid]'))) {
        input.removeAttribute('aria-invalid');
        const original = input.dataset['describedby'];
        if (original)
            input.setAttribute('aria-describedby', original);
        else
            input.removeAttribute('aria-describedby');
    }
}
/** A labelled form field: `<label>` + `<input>` in a wrapper. */
export function field(label, attrs, hint) {
    const id = `f-${attrs.name}`;
    const hintId = hint ? `${id}-hint` : null;
    return h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('p', { class: 'hint', id: hintId }, hint) : null, h('input', { id, ...attrs, 'aria-describedby': hintId }));
}
