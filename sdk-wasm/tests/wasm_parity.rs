//! The built `target/sdk/sdk.wasm` (or, with feature `emotions`, `sdk-emotions.wasm`), run by
//! Node.js, writes exactly the frames the native build of the same features writes for the same
//! inputs: the physics (f32, libm) is bit-identical across targets, so the server's
//! recomputation agrees with the browser's. The page-start module writes no detection; the
//! module with every emotion writes them.
//!
//! Skipped (with a note) when `node` is not on PATH or the wasm is missing or older than the
//! sources: run `cargo xtask build-sdk` first.

use std::path::{Path, PathBuf};
use std::process::Command;

use sdk_wasm::State;

/// One call: `[export, args…]`.
fn script() -> Vec<Vec<u32>> {
    let mut calls = Vec::new();
    let mut x = 0x2545_f491u32;
    let mut rnd = move |m: u32| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x % m
    };
    let mut t = 1000u32;
    for round in 0..12 {
        // Wandering movement, then a burst of clicks around a spot, then a tick.
        let (mut px, mut py) = (rnd(900) as i32, rnd(700) as i32);
        for _ in 0..40 {
            t += 12 + rnd(9);
            px += rnd(31) as i32 - 15;
            py += rnd(31) as i32 - 15;
            calls.push(vec![0, 0, t, px as u32, py as u32, 0]);
        }
        let clicks = 2 + rnd(6);
        for _ in 0..clicks {
            t += 90 + rnd(250);
            let (cx, cy) = (px + rnd(9) as i32 - 4, py + rnd(9) as i32 - 4);
            calls.push(vec![0, 1, t - 40, cx as u32, cy as u32, round % 3]);
            calls.push(vec![0, 3, t, cx as u32, cy as u32, round % 3]);
        }
        calls.push(vec![0, 4, t + 5, 0, rnd(5000), 0]);
        t += 300 + rnd(2000);
        calls.push(vec![1, t]);
    }
    calls
}

fn native(calls: &[Vec<u32>]) -> Vec<String> {
    let mut st = State::new();
    calls
        .iter()
        .map(|c| {
            let n = match c[0] {
                0 => st.sample(c[1], c[2], c[3] as i32, c[4] as i32, c[5]),
                _ => st.tick(c[1]),
            };
            st.out()[..n].iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect()
}

const NODE: &str = r#"
const fs = require('fs');
const [wasmPath, callsJson] = process.argv.slice(1);
WebAssembly.instantiate(fs.readFileSync(wasmPath)).then(({ instance }) => {
  const X = instance.exports;
  const out = JSON.parse(callsJson).map((c) => {
    const n = c[0] === 0 ? X.sample(c[1], c[2], c[3], c[4], c[5]) : X.tick(c[1]);
    return Buffer.from(new Uint8Array(X.memory.buffer, X.out(), n)).toString('hex');
  });
  process.stdout.write(JSON.stringify(out));
});
"#;

fn newest_source(root: &Path) -> std::time::SystemTime {
    ["sdk-wasm/src", "shared-physics/src"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).into_iter().flatten().flatten())
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(std::time::UNIX_EPOCH)
}

#[test]
fn wasm_and_native_write_the_same_frames() {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let module = if cfg!(feature = "emotions") { "sdk-emotions.wasm" } else { "sdk.wasm" };
    let wasm = std::env::var_os("SIQ_SDK_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/sdk")).join(module);
    let fresh = wasm.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= newest_source(&root));
    if !fresh {
        eprintln!("skipped: {} is missing or older than the sources (run `cargo xtask build-sdk`)", wasm.display());
        return;
    }
    let calls = script();
    let json = format!("[{}]", calls.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(","));
    let out = match Command::new("node").arg("-e").arg(NODE).arg(&wasm).arg(&json).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: node is not available ({e})");
            return;
        }
    };
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    let from_wasm: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim_matches('"').to_string())
        .collect();
    let from_native = native(&calls);
    let frames = from_native.iter().filter(|f| !f.is_empty()).count();
    let detections = from_native.iter().filter(|f| f.starts_with("01") && f.get(4..6) == Some("02")).count();
    if cfg!(feature = "emotions") {
        assert!(
            frames >= 12 && detections >= 3,
            "the script should exercise ticks and detections: {frames} frames, {detections} detections"
        );
    } else {
        assert!(
            frames >= 12 && detections == 0,
            "the page-start module writes ticks and no detection: {frames} frames, {detections} detections"
        );
    }
    assert_eq!(from_wasm.len(), from_native.len());
    for (i, (w, n)) in from_wasm.iter().zip(&from_native).enumerate() {
        assert_eq!(w, n, "call {i}: {:?} (is {} built from these sources? `cargo xtask build-sdk`)", calls[i], wasm.display());
    }
}
