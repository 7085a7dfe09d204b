//! The `sentientiq` binary: `serve` (the default) runs the server from the environment;
//! `detect --input FILE.csv` replays recorded events through the detectors.

use std::process::ExitCode;

const USAGE: &str = "usage:
  sentientiq [serve]              run the server (configuration from SIQ_* environment variables)
  sentientiq detect --input FILE  replay an event CSV (session,t_ms,kind,x,y,target) and print
                                  one JSON line per detection";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => serve(),
        ["detect", "--input", path] => detect(path),
        ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn serve() -> ExitCode {
    sentientiq_server::telemetry::init_logging();
    let config = match sentientiq_server::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sentientiq: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let running = match sentientiq_server::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sentientiq: {e}");
                return ExitCode::FAILURE;
            }
        };
        let _ = tokio::signal::ctrl_c().await;
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn detect(path: &str) -> ExitCode {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sentientiq detect: cannot open {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = match sentientiq_server::replay::replay_csv(std::io::BufReader::new(file), &mut out, Default::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sentientiq detect: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(out);
    for e in &summary.errors {
        eprintln!("{path}:{}: {}", e.line, e.message);
    }
    eprintln!("{} rows, {} detections, {} bad rows", summary.rows, summary.detections, summary.errors.len());
    if summary.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
