//! The browser harness on its own: what the journeys do with the pointer reaches the page as the
//! trusted events a real mouse produces, and the same seed moves the same way.

use std::time::Duration;

use serde::Deserialize;
use siq_e2e::browser::{Chromium, Point};
use siq_e2e::util::TempDir;

const PAGE: &str = r#"<!doctype html>
<html><body style="margin:0;height:3000px">
<button id="target" style="position:absolute;left:600px;top:300px;width:120px;height:40px">Target</button>
<div id="far" style="position:absolute;left:100px;top:2500px;width:100px;height:40px">far below</div>
<script>
  window.seen = { moves: [], clicks: [], wheels: 0, untrusted: 0 };
  addEventListener('pointermove', e => { seen.moves.push([e.clientX, e.clientY]); if (!e.isTrusted) seen.untrusted++; }, true);
  addEventListener('click', e => { seen.clicks.push({ id: e.target.id, x: e.clientX, y: e.clientY, detail: e.detail }); if (!e.isTrusted) seen.untrusted++; }, true);
  addEventListener('wheel', e => { seen.wheels++; if (!e.isTrusted) seen.untrusted++; }, true);
</script>
</body></html>"#;

#[derive(Debug, Deserialize)]
struct Click {
    id: String,
    x: f64,
    y: f64,
    detail: i64,
}

fn page_url(dir: &TempDir) -> String {
    let file = dir.path().join("input.html");
    std::fs::write(&file, PAGE).unwrap();
    format!("file://{}", file.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_paths_clicks_and_the_wheel_arrive_as_trusted_events() {
    let dir = TempDir::new("siq-input").unwrap();
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let mut tab = chromium.open(&page_url(&dir), 1).await.unwrap_or_else(|e| panic!("{e}"));

    let target = tab.center("#target").await.unwrap();
    assert_eq!(target, Point::new(660.0, 320.0));

    // A path, not a jump: many samples, ending on the target.
    tab.move_to(target).await.unwrap();
    let moves: Vec<(f64, f64)> = tab.eval("seen.moves").await.unwrap();
    assert!(moves.len() >= 10, "a path of {} samples", moves.len());
    let (x, y) = *moves.last().unwrap();
    assert!((x - target.x).abs() <= 1.0 && (y - target.y).abs() <= 1.0, "ended at {x},{y}");

    // A burst: five clicks on the button, counted up like a real mouse's, within the jitter.
    tab.rage_click(5, Duration::from_millis(150), 2.0).await.unwrap();
    let clicks: Vec<Click> = tab.wait_for("seen.clicks.length >= 5 && seen.clicks", Duration::from_secs(5)).await.unwrap();
    assert_eq!(clicks.iter().map(|c| c.detail).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    for c in &clicks {
        assert_eq!(c.id, "target");
        assert!((c.x - target.x).abs() <= 3.0 && (c.y - target.y).abs() <= 3.0, "{c:?} strays from {target:?}");
    }

    // The wheel scrolls the page until a far element is in view.
    let far = tab.reveal("#far").await.unwrap();
    assert!((120.0..=680.0).contains(&far.y), "{far:?}");
    let (scrolled, wheels): (f64, u32) = tab.eval("[scrollY, seen.wheels]").await.unwrap();
    assert!(scrolled > 1500.0 && wheels > 0, "scrollY {scrolled} after {wheels} wheel events");

    // Every event was trusted: it went through the browser's input pipeline.
    assert_eq!(tab.eval::<u32>("seen.untrusted").await.unwrap(), 0);
    // `undefined` evaluates to JSON null rather than an error.
    assert_eq!(tab.eval::<Option<u32>>("undefined").await.unwrap(), None);

    chromium.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_moves_the_same_way() {
    let dir = TempDir::new("siq-input").unwrap();
    let url = page_url(&dir);
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let mut paths = Vec::new();
    for seed in [7, 7, 8] {
        let mut tab = chromium.open(&url, seed).await.unwrap_or_else(|e| panic!("{e}"));
        tab.move_to(Point::new(300.0, 500.0)).await.unwrap();
        tab.move_to(Point::new(900.0, 200.0)).await.unwrap();
        paths.push(tab.eval::<Vec<(f64, f64)>>("seen.moves").await.unwrap());
    }
    assert_eq!(paths[0], paths[1]);
    assert_ne!(paths[0], paths[2]);
    chromium.close().await;
}
