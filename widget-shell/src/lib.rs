//! # SentientIQ customer widget
//!
//! The end customer's own view of their relationship with a SentientIQ tenant: their identity
//! strength with its top reasons, milestones (celebrated once when new), a "your year with us"
//! reflection, four one-tap context buttons, and the interventions the server pushes. Loaded
//! lazily (it is not part of the SDK's page-start budget) by `js/widget.js`:
//!
//! ```js
//! const { mount } = await import('https://HOST/widget/widget.js');
//! const w = mount({ host: 'https://HOST', siteKey: 'pk_…', token: visitorJwt });
//! w.destroy();
//! ```
//!
//! The path of a mount: `widget.js` creates the host element `<siq-widget>` and an
//! `AbortController`, then calls [`Widget::mount`], which attaches a **closed** shadow root,
//! adopts the widget's stylesheet ([`CSS`], a constructable stylesheet: no inline style, so a
//! strict CSP needs no `'unsafe-inline'`), builds the DOM ([`ui`]), puts the host in the page,
//! and asks `GET /v1/me` (with `X-SIQ-Site-Key` and the visitor token). The answer is checked
//! field by field ([`read`]) and turned into what is shown ([`model`]). A context button posts
//! `POST /v1/me/context {state}`.
//!
//! ## Never breaking the host page
//!
//! * Every listener is added with the controller's signal, so `destroy()` (which aborts it)
//!   removes them all, on the widget's elements and on `window` alike; in-flight requests are
//!   aborted by the same signal.
//! * Every call from the browser into the module (listeners, promise callbacks) goes through
//!   `guard` from `widget.js`, which catches anything thrown. A panic runs the hook set by
//!   [`install`], which calls `fault` from `widget.js` first: every widget's host element is
//!   removed and every controller aborted, silently (nothing is logged); the trap that follows
//!   is caught by `guard`, and the module is never entered again.
//! * Data is written as text only ([`ui`]).

pub mod model;
pub mod read;
pub mod ui;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    AbortSignal, AddEventListenerOptions, CssStyleSheet, Event, EventTarget, Headers, HtmlElement, KeyboardEvent, Request,
    RequestCredentials, RequestInit, RequestMode, Response, ShadowRootInit, ShadowRootMode, Window,
};

use crate::model::Context;
use crate::read::{LoadError, Options};
use crate::ui::View;

/// The widget's stylesheet.
pub const CSS: &str = include_str!("widget.css");

/// The longest intervention text shown, in characters.
pub const MAX_INTERVENTION_CHARS: usize = 280;

/// The event the SDK's loader dispatches on `window` for an intervention (detail `{id, emotion,
/// text}`); the widget shows its text and cancels it, so the loader shows no box of its own.
pub const INTERVENE_EVENT: &str = "sentientiq:intervene";

thread_local! {
    /// `(guard, fault)` from `widget.js`, set by [`install`].
    static HOOKS: RefCell<Option<(Function, Function)>> = const { RefCell::new(None) };
}

/// Installs `widget.js`'s `guard` (wraps a function so that nothing it throws escapes) and
/// `fault` (removes every widget), and the panic hook that calls `fault`. Called once, after
/// the module is instantiated.
#[wasm_bindgen]
pub fn install(guard: Function, fault: Function) {
    HOOKS.with(|h| *h.borrow_mut() = Some((guard, fault)));
    std::panic::set_hook(Box::new(|_| {
        HOOKS.with(|h| {
            if let Ok(h) = h.try_borrow() {
                if let Some((_, fault)) = h.as_ref() {
                    let _ = fault.call0(&JsValue::NULL);
                }
            }
        })
    }));
}

/// `f` wrapped by `guard` (unwrapped before [`install`], which `widget.js` always calls first).
fn guarded(f: JsValue) -> Function {
    let wrapped = HOOKS.with(|h| h.borrow().as_ref().and_then(|(guard, _)| guard.call1(&JsValue::NULL, &f).ok()));
    wrapped.unwrap_or(f).unchecked_into()
}

/// One mounted widget's state, shared by its listeners.
struct Inner {
    options: Options,
    window: Window,
    host: HtmlElement,
    signal: AbortSignal,
    view: View,
    /// False once destroyed: late callbacks then do nothing.
    alive: Cell<bool>,
}

/// A mounted widget. Dropping it (`free()` in JavaScript) removes it from the page.
#[wasm_bindgen]
pub struct Widget {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Widget {
    /// Mounts the widget in `host` (an element `widget.js` created and that no one else uses),
    /// with every listener bound to `signal`. `options`: `{host, siteKey, token, container?,
    /// interventions?}` (see [`read::Options`]). Throws an `Error` naming the bad option.
    pub fn mount(host: HtmlElement, signal: AbortSignal, options: JsValue) -> Result<Widget, JsValue> {
        let options = read::options(&options).map_err(|e| js_sys::Error::new(e.message()))?;
        let window = web_sys::window().ok_or_else(|| js_sys::Error::new("no window"))?;
        let doc = window.document().ok_or_else(|| js_sys::Error::new("no document"))?;
        let root = host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Closed))?;
        let sheet = CssStyleSheet::new()?;
        sheet.replace_sync(CSS)?;
        root.set_adopted_style_sheets(&Array::of1(&sheet));
        let view = View::build(&doc, &root)?;
        match &options.container {
            Some(c) => {
                host.set_attribute("data-inline", "")?;
                c.append_child(&host)?;
            }
            None => {
                doc.body().ok_or_else(|| js_sys::Error::new("no body"))?.append_child(&host)?;
            }
        }
        let inner = Rc::new(Inner { options, window, host, signal, view, alive: Cell::new(true) });
        listen(&inner)?;
        load(&inner)?;
        Ok(Widget { inner })
    }

    /// Shows `text` (as text) in the widget's live region.
    pub fn show_intervention(&self, text: &str) {
        self.inner.view.set_status(&model::clip(text, MAX_INTERVENTION_CHARS));
    }
}

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Test hook: the next click on a toggle panics inside its listener.
    static PANIC_ON_TOGGLE: Cell<bool> = const { Cell::new(false) };
}

/// Test hook (feature `test-hooks`): panics now, in a call from the page.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn test_panic() {
    panic!("test hook");
}

/// Test hook (feature `test-hooks`): the next click on a toggle panics inside its listener.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn test_panic_on_next_toggle() {
    PANIC_ON_TOGGLE.with(|p| p.set(true));
}

impl Drop for Widget {
    fn drop(&mut self) {
        self.inner.alive.set(false);
        self.inner.host.remove();
    }
}

/// Adds `f` as a `type` listener on `target`, removed when the widget's signal aborts.
fn on(inner: &Rc<Inner>, target: &EventTarget, kind: &str, f: impl FnMut(Event) + 'static) -> Result<(), JsValue> {
    let opts = AddEventListenerOptions::new();
    opts.set_signal(&inner.signal);
    let f = guarded(Closure::<dyn FnMut(Event)>::new(f).into_js_value());
    target.add_event_listener_with_callback_and_add_event_listener_options(kind, &f, &opts)
}

/// The widget's listeners: the toggle, Escape to collapse, the context buttons and, unless
/// turned off, the loader's interventions on `window`.
fn listen(inner: &Rc<Inner>) -> Result<(), JsValue> {
    let me = inner.clone();
    on(inner, &inner.view.toggle, "click", move |_| {
        #[cfg(feature = "test-hooks")]
        if PANIC_ON_TOGGLE.with(|p| p.replace(false)) {
            panic!("test hook");
        }
        let _ = me.view.set_expanded(!me.view.expanded());
    })?;
    let me = inner.clone();
    on(inner, &inner.view.body, "keydown", move |e| {
        if e.dyn_ref::<KeyboardEvent>().is_some_and(|k| k.key() == "Escape") && me.view.set_expanded(false).is_ok() {
            if let Some(t) = me.view.toggle.dyn_ref::<HtmlElement>() {
                let _ = t.focus();
            }
        }
    })?;
    for (state, button) in &inner.view.contexts {
        let (me, state) = (inner.clone(), *state);
        on(inner, button, "click", move |_| share(&me, state))?;
    }
    if inner.options.interventions {
        let me = inner.clone();
        on(inner, &inner.window, INTERVENE_EVENT, move |e| {
            let text = Reflect::get(&e.dyn_ref::<web_sys::CustomEvent>().map(|c| c.detail()).unwrap_or_default(), &"text".into())
                .ok()
                .and_then(|t| t.as_string());
            if let (Some(text), true) = (text, me.alive.get()) {
                e.prevent_default();
                me.view.set_status(&model::clip(&text, MAX_INTERVENTION_CHARS));
            }
        })?;
    }
    Ok(())
}

/// `p.then(ok, err)` with both callbacks guarded; the promise it returns never rejects (a
/// guarded callback never throws), so nothing reaches the page as an unhandled rejection.
fn then(p: &Promise, ok: impl FnOnce(JsValue) -> JsValue + 'static, err: impl FnOnce(JsValue) -> JsValue + 'static) {
    let (ok, err) = (guarded(Closure::once_into_js(ok)), guarded(Closure::once_into_js(err)));
    if let Ok(then) = Reflect::get(p, &"then".into()).and_then(|t| t.dyn_into::<Function>()) {
        let _ = then.call2(p, &ok, &err);
    }
}

/// A request to the server for this widget's customer, aborted with the widget.
fn fetch(inner: &Inner, method: &str, path: &str, body: Option<&str>) -> Result<Promise, JsValue> {
    let o = &inner.options;
    let headers = Headers::new()?;
    headers.set("X-SIQ-Site-Key", &o.site_key)?;
    let mut bearer = String::from("Bearer ");
    bearer.push_str(&o.token);
    headers.set("Authorization", &bearer)?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    init.set_signal(Some(&inner.signal));
    if let Some(body) = body {
        headers.set("Content-Type", "application/json")?;
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let mut url = o.host.clone();
    url.push_str(path);
    Ok(inner.window.fetch_with_request(&Request::new_with_str_and_init(&url, &init)?))
}

/// Asks `GET /v1/me` and renders the answer, or a short message when it fails.
fn load(inner: &Rc<Inner>) -> Result<(), JsValue> {
    let (ok, fail) = (inner.clone(), inner.clone());
    then(
        &fetch(inner, "GET", "/v1/me", None)?,
        move |resp| {
            let resp: Response = resp.unchecked_into();
            if !resp.ok() {
                failed(&ok, LoadError::Status(resp.status()));
                return JsValue::UNDEFINED;
            }
            let (me, fail) = (ok.clone(), ok.clone());
            match resp.json() {
                Ok(p) => {
                    then(
                        &p,
                        move |v| {
                            match read::me(&v) {
                                Ok(data) => shown(&me, &data),
                                Err(e) => failed(&me, e),
                            }
                            JsValue::UNDEFINED
                        },
                        move |_| {
                            failed(&fail, LoadError::NotJson);
                            JsValue::UNDEFINED
                        },
                    );
                }
                Err(_) => failed(&ok, LoadError::NotJson),
            }
            JsValue::UNDEFINED
        },
        move |_| {
            failed(&fail, LoadError::Network);
            JsValue::UNDEFINED
        },
    );
    Ok(())
}

/// Renders `me`: milestones new since the last look (kept in `localStorage`) are celebrated
/// and announced.
fn shown(inner: &Inner, me: &model::Me) {
    if !inner.alive.get() {
        return;
    }
    let year = model::year(&me.history);
    let reached = model::milestones(me, year.as_ref());
    let storage = inner.window.local_storage().ok().flatten();
    let key = model::storage_key(&inner.options.site_key, me.sub.as_deref().unwrap_or(""));
    let seen = storage.as_ref().and_then(|s| s.get_item(&key).ok().flatten());
    let new = model::new_since(&reached, seen.as_deref());
    if let Some(s) = &storage {
        // Unavailable or full storage: nothing is new next time either; never an error.
        let _ = s.set_item(&key, &model::encode(&reached));
    }
    if inner.view.render(me, year.as_ref(), &reached, &new).is_err() {
        failed(inner, LoadError::Field("(render)"));
        return;
    }
    if let Some(first) = new.first() {
        let mut text = String::from("New milestone: ");
        text.push_str(first.label());
        inner.view.set_status(&text);
    }
}

/// Shows the short "not available" message (nothing when destroyed).
fn failed(inner: &Inner, e: LoadError) {
    if inner.alive.get() {
        let _ = inner.view.show_error(e.code());
    }
}

/// Posts the one-tap state; the button shows pressed once the server took it.
fn share(inner: &Rc<Inner>, state: Context) {
    let mut body = String::from("{\"state\":\"");
    body.push_str(state.as_str());
    body.push_str("\"}");
    let Ok(p) = fetch(inner, "POST", "/v1/me/context", Some(&body)) else {
        inner.view.set_status("That did not reach us. Please try again.");
        return;
    };
    let (ok, fail) = (inner.clone(), inner.clone());
    then(
        &p,
        move |resp| {
            if ok.alive.get() {
                if resp.unchecked_into::<Response>().ok() && ok.view.set_pressed(Some(state)).is_ok() {
                    let mut text = String::from("Thanks, noted: ");
                    text.push_str(state.label());
                    ok.view.set_status(&text);
                } else {
                    ok.view.set_status("That did not reach us. Please try again.");
                }
            }
            JsValue::UNDEFINED
        },
        move |_| {
            if fail.alive.get() {
                fail.view.set_status("That did not reach us. Please try again.");
            }
            JsValue::UNDEFINED
        },
    );
}
