/** Options of {@link init}. */
export interface InitOptions {
  /** The tenant's publishable site key (`pk_…`). */
  key: string;
  /**
   * Origin that serves `/sdk-worker.js`, `/sdk.wasm` and `/v1/ws` (the SentientIQ server, or a
   * first-party proxy on your own domain). Defaults to the page's own origin.
   */
  host?: string;
  /** `"required"`: collect nothing until `consent(true)`. */
  consent?: "required";
}

/** A business outcome, e.g. `"signup"` or `{ name: "checkout", value_cents: 4200 }`. */
export type Outcome = string | { name: string; [field: string]: unknown };

/** What the visitor says about themselves right now (the one-tap states of the widget). */
export type Context = "busy" | "stuck" | "exploring" | "frustrated";

/**
 * Starts the SDK (one instance per page). Returns `true` when it started; `false` outside a
 * browser, without a key or WebAssembly, when `navigator.doNotTrack` is `"1"`, or when an
 * instance already runs.
 */
export function init(options: InitOptions): boolean;

/** Passes the host's identity JWT for this visitor; a falsy token reverts to anonymous. */
export function identify(token: string | null | undefined): void;

/**
 * Reports an outcome of this visit (`"purchase"`, `"cancel"`, …; an object's `name`): the server
 * attributes it to the session's newest intervention decision within the tenant's outcome window.
 */
export function track(outcome: Outcome): void;

/** Shares the identified visitor's state (`busy` holds in-page interventions back for 7 days). */
export function context(state: Context): void;

/** For `consent: "required"`: `true` starts collection, `false` stops it (as `destroy`). */
export function consent(granted: boolean): void;

/** Removes every listener, the worker (and its socket) and the intervention box. */
export function destroy(): void;

/** Detail of the cancelable `sentientiq:intervene` event dispatched on `window`. */
export interface Intervention {
  id: number;
  emotion: "rage" | "frustration" | "confusion" | "hesitation" | "abandonment" | "engaged";
  text: string;
}

declare global {
  interface WindowEventMap {
    "sentientiq:intervene": CustomEvent<Intervention>;
  }
}
