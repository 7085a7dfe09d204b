/*
 * SentientIQ customer widget, served as /widget/widget.js next to the wasm-bindgen glue
 * (widget_shell.js) and module (widget_shell_bg.wasm) that `cargo xtask build-widget` writes.
 * Loaded lazily, never at page start:
 *
 *   const { mount } = await import('https://HOST/widget/widget.js');
 *   const w = mount({ host: 'https://HOST', siteKey: 'pk_…', token: visitorJwt });
 *   // optional: container: element (inline instead of a fixed box), interventions: false
 *   w.ready;               // Promise<boolean>: true once mounted, false if it could not be
 *   w.showIntervention(t); // shows t (as text) in the widget's live region
 *   w.destroy();           // removes the widget, its listeners and its requests
 *
 * It also sets window.SentientIQWidget = { mount } for pages that load it with a module script.
 *
 * Containment: `guard` wraps every function the module hands to the browser, `fault` is what
 * the module's panic hook calls. After a fault every widget is removed, every listener and
 * request aborted, and the module is never called again; nothing is logged and nothing is
 * thrown into the page.
 */
import init, { install, Widget } from './widget_shell.js';

// Mounted widgets: {ctl, host, widget}. Holding the module's Widget object here keeps it from
// being freed (and so removed from the page) when the host drops its handle without destroy().
const live = new Set();
let dead = false;
let loading;

// Removes every widget; the module is not entered again. `live` keeps its entries: dropping
// them would let wasm-bindgen's finalizer call into the stopped module.
const fault = () => {
  dead = true;
  for (const w of live) {
    w.ctl.abort();
    w.host.remove();
  }
};

// `f`, made unable to throw into the page.
const guard = (f) =>
  function (a) {
    if (!dead) {
      try {
        return f.call(this, a);
      } catch {
        fault();
      }
    }
  };

const load = () => (loading = loading || init().then(() => install(guard, fault)));

export function mount(options) {
  const w = { ctl: new AbortController(), host: document.createElement('siq-widget') };
  let widget;
  const stop = () => {
    w.ctl.abort();
    w.host.remove();
    // After a fault the entry stays (see fault).
    dead || live.delete(w);
  };
  return {
    ready: load()
      .then(() => {
        if (dead || w.ctl.signal.aborted) return false;
        live.add(w);
        w.widget = widget = Widget.mount(w.host, w.ctl.signal, options || {});
        return true;
      })
      .catch((e) => {
        // A bad option throws an Error; anything else (a trap) faults.
        e instanceof WebAssembly.RuntimeError ? fault() : stop();
        return false;
      }),
    showIntervention(text) {
      try {
        dead || (widget && widget.show_intervention(String(text)));
      } catch {
        fault();
      }
    },
    destroy() {
      stop();
      try {
        dead || (widget && widget.free());
      } catch {
        fault();
      }
      widget = null;
    },
  };
}

window.SentientIQWidget = { mount };
