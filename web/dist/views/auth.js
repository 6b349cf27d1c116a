// Login and registration forms. A registration logs the new customer in
// straight away. Problems from the server are shown above the form, and
// each field violation under its field.
import { login, register } from '../api.js';
import { clearFormErrors, field, h, showFormErrors } from '../dom.js';
import { setSession } from '../session.js';
import { memory } from '../state.js';
import { heading } from './common.js';
function goBack() {
    const target = memory.returnTo && !/^#\/(login|register)/.test(memory.returnTo) ? memory.returnTo : '#/';
    memory.returnTo = null;
    location.hash = target;
}
async function logIn(email, password) {
    await login(email, password);
    setSession({ loggedIn: true, email });
}
export const loginView = (main) => {
    const summary = h('div', { class: 'form-summary' });
    const submit = h('button', { type: 'submit' }, 'Log in');
    const form = h('form', { class: 'auth-form', 'aria-labelledby': 'login-heading' }, field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }), field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }), submit);
    form.addEventListener('submit', async (event) => {
        event.preventDefault();
        clearFormErrors(form, summary);
        const data = new FormData(form);
        submit.disabled = true;
        try {
            await logIn(String(data.get('email') ?? ''), String(data.get('password') ?? ''));
            goBack();
        }
        catch (error) {
            showFormErrors(form, summary, error);
        }
        finally {
            submit.disabled = false;
        }
    });
    const title = heading('Log in');
    title.id = 'login-heading';
    main.replaceChildren(title, summary, form, h('p', null, 'New here? ', h('a', { href: '#/register' }, 'Create an account'), '.'));
};
export const registerView = (main) => {
    const summary = h('div', { class: 'form-summary' });
    const submit = h('button', { type: 'submit' }, 'Create account');
    const form = h('form', { class: 'auth-form', 'aria-labelledby': 'register-heading' }, field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }), field('Password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 }, '8 to 128 characters.'), field('Name', { name: 'display_name', type: 'text', autocomplete: 'name', required: true }, 'As printed on your tickets.'), submit);
    form.addEventListener('submit', async (event) => {
        event.preventDefault();
        clearFormErrors(form, summary);
        const data = new FormData(form);
        const email = String(data.get('email') ?? '');
        const password = String(data.get('password') ?? '');
        submit.disabled = true;
        try {
            await register(email, password, String(data.get('display_name') ?? ''));
            await logIn(email, password);
            goBack();
        }
        catch (error) {
            showFormErrors(form, summary, error);
        }
        finally {
            submit.disabled = false;
        }
    });
    const title = heading('Create an account');
    title.id = 'register-heading';
    main.replaceChildren(title, summary, form, h('p', null, 'Already have an account? ', h('a', { href: '#/login' }, 'Log in'), '.'));
};
