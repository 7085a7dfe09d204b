//! The `sentientiq` binary: `serve` (the default) runs the server from the environment;
//! `detect --input FILE` replays recorded events (an event CSV or an rrweb recording) through the
//! detectors (`docs/event-csv.md`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use sentientiq_server::confirm::replay::{self, Answers, Format, Location, ReplayError};

const USAGE: &str = "usage:
  sentientiq [serve]              run the server (configuration from SIQ_* environment variables)
  sentientiq detect --input FILE [--format csv|rrweb] [--answers recorded|none]
                                  replay an event CSV (session,t_ms,kind,x,y,target) or an rrweb
                                  recording (a JSON array of events; the default for *.json) and
                                  print one JSON line per detection (docs/event-csv.md);
                                  --answers none: the recorder did not capture the page's answers
                                  Exit 0: all rows used; 1: bad rows or unreadable input; 2: usage
  sentientiq openapi              print the REST API's OpenAPI 3 document (also GET /v1/openapi.json)
  sentientiq export --dir DIR [--day YYYY-MM-DD] [--tenant ID]
                                  write the sessions, detections, decisions, outcomes and alerts of
                                  a UTC day (default yesterday) of every tenant (or one) as Parquet
                                  under DIR/{table}/tenant=…/day=…/ (docs/forensics.md)
  sentientiq rotate-keys          re-seal every personal field and tenant secret with the active
                                  key of SIQ_ENCRYPTION_KEYS, sealing those stored before sealing
                                  (docs/security.md); prints what it did";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => serve(),
        ["detect", rest @ ..] => match detect_args(rest) {
            Some((path, format, answers)) => detect(path, format, answers),
            None => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        },
        ["openapi"] => {
            println!("{}", sentientiq_server::api::openapi::json());
            ExitCode::SUCCESS
        }
        ["rotate-keys"] => rotate_keys(),
        ["export", rest @ ..] => export(rest),
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

/// The configuration from the environment (`SIQ_*`), or exit code 2 after saying what is wrong.
fn config() -> Result<sentientiq_server::config::Config, ExitCode> {
    sentientiq_server::config::Config::from_env().map_err(|e| {
        eprintln!("sentientiq: {e}");
        ExitCode::from(2)
    })
}

/// Runs `work` on the store at `database_url`, on a runtime of its own; exit code 1 after saying
/// why (naming `command`) when the store cannot be opened.
fn with_store<F, Fut>(command: &str, database_url: &str, work: F) -> ExitCode
where
    F: FnOnce(sentientiq_server::store::SqlStore) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        match sentientiq_server::store::SqlStore::connect(database_url).await {
            Ok(store) => work(store).await,
            Err(e) => {
                eprintln!("sentientiq {command}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn serve() -> ExitCode {
    // Logs, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md).
    let mut telemetry = sentientiq_server::telemetry::init_logging();
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let running = match sentientiq_server::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sentientiq: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Ctrl-C, or SIGTERM from a service manager or `docker stop`: stop and drain.
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        running.shutdown().await;
        ExitCode::SUCCESS
    });
    drop(rt);
    // The last batch of spans, sent from outside the runtime (the exporter's client blocks).
    telemetry.shutdown();
    code
}

fn rotate_keys() -> ExitCode {
    let _telemetry = sentientiq_server::telemetry::init_logging();
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some((keys, index)) = &config.encryption_keys else {
        eprintln!("sentientiq rotate-keys: set SIQ_ENCRYPTION_KEYS (new key first) and SIQ_INDEX_KEY");
        return ExitCode::from(2);
    };
    let keyring = match sentientiq_server::identity::keyring::Keyring::parse(keys, index) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("sentientiq rotate-keys: {e}");
            return ExitCode::from(2);
        }
    };
    with_store("rotate-keys", &config.database_url, |store| async move {
        match sentientiq_server::identity::customers::rotate_keys(&store, &keyring).await {
            Ok(report) => {
                let mut unreadable = 0;
                for (column, resealed, current, bad) in report {
                    println!("{column}: {resealed} re-sealed with {}, {current} already current, {bad} unreadable", keyring.active_id());
                    unreadable += bad;
                }
                if unreadable > 0 {
                    eprintln!("sentientiq rotate-keys: {unreadable} values open with none of the configured keys (left as they were)");
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sentientiq rotate-keys: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `--flag value` pairs in any order, each of `names` at most once: their values, by the
/// position of their name; `None` for anything else (an unknown flag, a flag without its value,
/// a flag given twice).
fn flags<'a, const N: usize>(args: &[&'a str], names: [&str; N]) -> Option<[Option<&'a str>; N]> {
    let mut values = [None; N];
    let mut it = args.iter();
    while let Some(&flag) = it.next() {
        let value = *it.next()?;
        let slot = names.iter().position(|n| *n == flag)?;
        if values[slot].replace(value).is_some() {
            return None;
        }
    }
    Some(values)
}

/// `--input FILE` (required), `--format csv|rrweb` and `--answers recorded|none` (optional), in
/// any order.
fn detect_args<'a>(args: &[&'a str]) -> Option<(&'a str, Option<Format>, Answers)> {
    let [input, format, answers] = flags(args, ["--input", "--format", "--answers"])?;
    let format = match format {
        Some(f) => Some(Format::parse(f)?),
        None => None,
    };
    Some((input?, format, answers.map_or(Some(Answers::Recorded), Answers::parse)?))
}

fn detect(path: &str, format: Option<Format>, answers: Answers) -> ExitCode {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sentientiq detect: cannot open {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let input = std::io::BufReader::new(file);
    let format = format.unwrap_or_else(|| Format::for_path(Path::new(path)));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match format {
        Format::Csv => replay::replay_csv(input, &mut out, answers.params(Default::default())).map_err(ReplayError::from),
        Format::Rrweb => {
            // One recording is one session, named after the file.
            let session = Path::new(path).file_stem().map_or_else(|| path.into(), |s| s.to_string_lossy());
            replay::replay_rrweb(input, &session, &mut out, answers.params(Default::default()))
        }
    };
    let flushed = out.flush();
    drop(out);
    let summary = match (result, flushed) {
        (Ok(s), Ok(())) => s,
        (Err(e), _) => {
            eprintln!("sentientiq detect: {path}: {e}");
            return ExitCode::FAILURE;
        }
        (_, Err(e)) => {
            eprintln!("sentientiq detect: {e}");
            return ExitCode::FAILURE;
        }
    };
    for e in &summary.errors {
        match e.at {
            Location::Line(n) => eprintln!("{path}:{n}: {}", e.message),
            Location::Event(n) => eprintln!("{path}: event {n}: {}", e.message),
        }
    }
    eprintln!("{summary}");
    if summary.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--dir DIR` (required), `--day YYYY-MM-DD` and `--tenant ID` (optional), in any order.
fn export(args: &[&str]) -> ExitCode {
    let Some([Some(dir), day, tenant]) = flags(args, ["--dir", "--day", "--tenant"]) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (dir, tenant) = (std::path::PathBuf::from(dir), tenant.map(str::to_string));
    const DAY_MS: i64 = sentientiq_server::forensics::DAY_MS;
    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64) / DAY_MS;
    let day = match day.map(sentientiq_server::forensics::warehouse::parse_day) {
        None => today - 1,
        Some(Some(d)) => d,
        Some(None) => {
            eprintln!("sentientiq export: --day must be YYYY-MM-DD");
            return ExitCode::from(2);
        }
    };
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    with_store("export", &config.database_url, |store| async move {
        use sentientiq_server::store::TenantStore;
        let tenants: Vec<String> = match tenant {
            Some(t) => vec![t],
            None => match store.tenants().await {
                Ok(ts) => ts.into_iter().map(|t| t.id).collect(),
                Err(e) => {
                    eprintln!("sentientiq export: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        for t in tenants {
            match sentientiq_server::forensics::warehouse::export_day(&store, &t, day, &dir).await {
                Ok(files) => {
                    for f in files {
                        println!("{} {} rows {}", f.table, f.rows, f.path.display());
                    }
                }
                Err(e) => {
                    eprintln!("sentientiq export: tenant {t}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_take_each_name_once_with_its_value_in_any_order() {
        let names = ["--dir", "--day", "--tenant"];
        assert_eq!(flags(&["--tenant", "t1", "--dir", "/x"], names), Some([Some("/x"), None, Some("t1")]));
        assert_eq!(flags(&[], names), Some([None, None, None]));
        assert_eq!(flags(&["--dir"], names), None, "a flag without its value");
        assert_eq!(flags(&["--dir", "/x", "--dir", "/y"], names), None, "a flag twice");
        assert_eq!(flags(&["--dir", "/x", "--other", "1"], names), None, "an unknown flag");
    }

    #[test]
    fn detect_needs_an_input_and_known_values() {
        assert!(matches!(detect_args(&["--input", "a.csv"]), Some(("a.csv", None, Answers::Recorded))));
        assert!(matches!(detect_args(&["--answers", "none", "--format", "rrweb", "--input", "a"]), Some(("a", Some(Format::Rrweb), _))));
        assert!(detect_args(&["--format", "csv"]).is_none());
        assert!(detect_args(&["--input", "a", "--format", "xml"]).is_none());
        assert!(detect_args(&["--input", "a", "--answers", "some"]).is_none());
    }
}
