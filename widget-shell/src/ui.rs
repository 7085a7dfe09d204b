//! The widget's DOM, inside its closed shadow root.
//!
//! ```text
//! <section class="w" aria-label="Your relationship with us">
//!   <button class="toggle" aria-expanded aria-controls="siq-body">Your strength <span>72</span></button>
//!   <div id="siq-body" class="body" hidden>
//!     greeting, meter (role="meter"), what helps / what holds it back (lists),
//!     milestones (list; a new one gets class "new": the celebration),
//!     your year with us (list), four context buttons (aria-pressed, role="group")
//!   </div>
//!   <div class="status" role="status" aria-live="polite"></div>
//! </section>
//! ```
//!
//! Every piece of data is written with `set_text_content` (or as an attribute value); nothing is
//! ever parsed as HTML, so a customer name like `<img onerror=…>` is shown as those characters.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, HtmlElement, ShadowRoot};

use crate::model::{self, int, rounded, signed, Context, Me, Milestone, Year};

/// The widget's elements that change after it is built.
pub struct View {
    doc: Document,
    /// The expand/collapse button.
    pub toggle: Element,
    /// The score in the toggle.
    score: Element,
    /// The collapsible body.
    pub body: HtmlElement,
    /// Everything rendered from `/v1/me` goes here (replaced on each render).
    content: Element,
    /// The four context buttons, in [`Context::ALL`] order.
    pub contexts: Vec<(Context, Element)>,
    /// The live region: interventions, milestones, confirmations.
    status: Element,
}

/// Creates `<tag class=…>` with text.
fn el(doc: &Document, tag: &str, class: &str, text: &str) -> Result<Element, JsValue> {
    let e = doc.create_element(tag)?;
    if !class.is_empty() {
        e.set_class_name(class);
    }
    if !text.is_empty() {
        e.set_text_content(Some(text));
    }
    Ok(e)
}

/// Creates `<tag class=…>` with text as the last child of `parent`.
fn add(doc: &Document, parent: &Element, tag: &str, class: &str, text: &str) -> Result<Element, JsValue> {
    let e = el(doc, tag, class, text)?;
    parent.append_child(&e)?;
    Ok(e)
}

/// Appends `<h2>` with `title` and a `<ul>` of `items` to `parent`; returns the list.
fn list(doc: &Document, parent: &Element, title: &str, class: &str, items: &[String]) -> Result<Element, JsValue> {
    add(doc, parent, "h2", "", title)?;
    let ul = el(doc, "ul", class, "")?;
    for item in items {
        add(doc, &ul, "li", "", item)?;
    }
    parent.append_child(&ul)?;
    Ok(ul)
}

impl View {
    /// Builds the widget's skeleton in `root`: the toggle, an empty body with the context
    /// buttons, and the live region.
    pub fn build(doc: &Document, root: &ShadowRoot) -> Result<View, JsValue> {
        let w = el(doc, "section", "w", "")?;
        w.set_attribute("aria-label", "Your relationship with us")?;
        let toggle = el(doc, "button", "toggle", "")?;
        toggle.set_attribute("type", "button")?;
        toggle.set_attribute("aria-expanded", "false")?;
        toggle.set_attribute("aria-controls", "siq-body")?;
        add(doc, &toggle, "span", "", "Your strength")?;
        let score = el(doc, "span", "score", "…")?;
        toggle.append_child(&score)?;
        let body: HtmlElement = el(doc, "div", "body", "")?.unchecked_into();
        body.set_id("siq-body");
        body.set_hidden(true);
        let content = el(doc, "div", "", "Loading…")?;
        body.append_child(&content)?;
        add(doc, &body, "h2", "", "How is it going today?")?;
        let group = el(doc, "div", "contexts", "")?;
        group.set_attribute("role", "group")?;
        group.set_attribute("aria-label", "How is it going today?")?;
        let mut contexts = Vec::with_capacity(Context::ALL.len());
        for c in Context::ALL {
            let b = el(doc, "button", "", c.label())?;
            b.set_attribute("type", "button")?;
            b.set_attribute("aria-pressed", "false")?;
            b.set_attribute("data-state", c.as_str())?;
            group.append_child(&b)?;
            contexts.push((c, b));
        }
        body.append_child(&group)?;
        let status = el(doc, "div", "status", "")?;
        status.set_attribute("role", "status")?;
        status.set_attribute("aria-live", "polite")?;
        w.append_child(&toggle)?;
        w.append_child(&body)?;
        w.append_child(&status)?;
        root.append_child(&w)?;
        Ok(View { doc: doc.clone(), toggle, score, body, content, contexts, status })
    }

    /// Whether the body is shown.
    pub fn expanded(&self) -> bool {
        !self.body.hidden()
    }

    /// Shows or hides the body.
    pub fn set_expanded(&self, open: bool) -> Result<(), JsValue> {
        self.body.set_hidden(!open);
        self.toggle.set_attribute("aria-expanded", if open { "true" } else { "false" })
    }

    /// Marks `state` as the one the customer shared (`None`: none).
    pub fn set_pressed(&self, state: Option<Context>) -> Result<(), JsValue> {
        for (c, b) in &self.contexts {
            b.set_attribute("aria-pressed", if Some(*c) == state { "true" } else { "false" })?;
        }
        Ok(())
    }

    /// Puts `text` in the live region (as text).
    pub fn set_status(&self, text: &str) {
        self.status.set_text_content(Some(text));
    }

    /// Replaces the body's content with a short message saying the details are unavailable;
    /// `code` goes in `data-error`.
    pub fn show_error(&self, code: &str) -> Result<(), JsValue> {
        let p = el(&self.doc, "p", "error", "Your details are not available right now.")?;
        p.set_attribute("data-error", code)?;
        self.score.set_text_content(Some("–"));
        self.content.replace_children_with_node_1(&p);
        Ok(())
    }

    /// Renders the customer's view; the milestones in `new` are celebrated.
    pub fn render(&self, me: &Me, year: Option<&Year>, reached: &[Milestone], new: &[Milestone]) -> Result<(), JsValue> {
        let doc = &self.doc;
        let c = el(doc, "div", "", "")?;
        if let Some(name) = &me.name {
            let mut hello = String::from("Hi ");
            hello.push_str(name);
            add(doc, &c, "p", "hello", &hello)?;
        }
        match me.strength {
            Some(s) => {
                let points = int(rounded(s));
                self.score.set_text_content(Some(&points));
                let mut line = String::from("Identity strength: ");
                line.push_str(&points);
                line.push_str(" of 100");
                add(doc, &c, "p", "", &line)?;
                let meter = el(doc, "div", "meter", "")?;
                meter.set_attribute("role", "meter")?;
                meter.set_attribute("aria-label", "Identity strength")?;
                meter.set_attribute("aria-valuemin", "0")?;
                meter.set_attribute("aria-valuemax", "100")?;
                meter.set_attribute("aria-valuenow", &points)?;
                let fill: HtmlElement = el(doc, "span", "fill", "")?.unchecked_into();
                // CSSOM, not a style attribute: allowed under a CSP without 'unsafe-inline'.
                let mut width = points.clone();
                width.push('%');
                fill.style().set_property("width", &width)?;
                meter.append_child(&fill)?;
                c.append_child(&meter)?;
            }
            None => {
                self.score.set_text_content(Some("–"));
                add(doc, &c, "p", "", "Your strength will show after a few visits.")?;
            }
        }
        let r = model::reasons(&me.factors);
        let line = |f: &model::Factor| {
            let mut s = f.label().to_string();
            if !f.reason.is_empty() {
                s.push_str(": ");
                s.push_str(&f.reason);
            }
            s
        };
        if !r.helps.is_empty() {
            list(doc, &c, "What helps", "helps", &r.helps.iter().map(|f| line(f)).collect::<Vec<_>>())?;
        }
        if !r.holds_back.is_empty() {
            list(doc, &c, "What holds it back", "holds", &r.holds_back.iter().map(|f| line(f)).collect::<Vec<_>>())?;
        }
        if !reached.is_empty() {
            let ul = list(doc, &c, "Milestones", "milestones", &[])?;
            for m in reached {
                let li = el(doc, "li", if new.contains(m) { "new" } else { "" }, m.label())?;
                li.set_attribute("data-milestone", m.id())?;
                ul.append_child(&li)?;
            }
        }
        if let Some(y) = year {
            let mut items = Vec::with_capacity(3);
            let mut days = String::from("With us for ");
            days.push_str(&int(y.days));
            days.push_str(if y.days == 1 { " day" } else { " days" });
            items.push(days);
            let mut best = String::from("Best strength: ");
            best.push_str(&int(rounded(y.best)));
            items.push(best);
            let mut change = String::from("Change over this time: ");
            change.push_str(&signed(y.change));
            items.push(change);
            list(doc, &c, "Your year with us", "year", &items)?;
        }
        self.set_pressed(me.context)?;
        self.content.replace_children_with_node_1(&c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// No data reaches the DOM as HTML: the widget's sources never use an HTML sink.
    #[test]
    fn no_html_sinks_in_the_widget() {
        let sources = [include_str!("ui.rs"), include_str!("lib.rs"), include_str!("read.rs"), include_str!("../js/widget.js")];
        let sinks = ["inner_html", "outer_html", "insert_adjacent_html", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"];
        for (i, src) in sources.iter().enumerate() {
            // This test names the sinks itself: skip its own lines.
            for line in src.lines().filter(|l| !l.contains("let sinks")) {
                for sink in sinks {
                    assert!(!line.contains(sink), "source {i} uses {sink}: {line}");
                }
            }
        }
    }
}
