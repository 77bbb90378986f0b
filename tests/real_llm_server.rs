//! End to end against a real OpenAI-compatible server from PyPI:
//! llama-cpp-python's server (`pip install "llama-cpp-python[server]"`)
//! with the demo pack's SmolLM2-135M GGUF, the setup issue 18 reported.
//! `sage llm check` must find the structured mode the server takes, and
//! `sage explain` on three synthetic features must end honestly: exit
//! status 0 or 1 (never a crash or a usage error), a one-line reason for
//! each failed feature, and every session's tokens counted.
//!
//! `SAGE_LLAMA_PYTHON` names the Python that can import `llama_cpp`
//! (default `python3`); when it cannot, the test prints one line saying it
//! skipped and passes. `SAGE_SMOL_GGUF` names the model file (default: the
//! demo pack's place in the data dir, see scripts/install-demo-pack.sh).
//! It runs without libtest (`harness = false`) so that line is always shown.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> ExitCode {
    let python = std::env::var("SAGE_LLAMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import llama_cpp.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        println!(
            "real_llm_server: SKIPPED: `{python}` cannot import llama_cpp.server; set SAGE_LLAMA_PYTHON to a Python with `pip install \"llama-cpp-python[server]\"` to run it"
        );
        return ExitCode::SUCCESS;
    }
    match run(&python) {
        Ok(()) => {
            println!("real_llm_server: ok");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("real_llm_server: FAILED: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn model_path() -> Result<PathBuf, String> {
    let path = match std::env::var("SAGE_SMOL_GGUF") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let data = std::env::var("SAGE_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    let base = std::env::var("XDG_DATA_HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(|_| {
                            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                                .join(".local/share")
                        });
                    base.join("sage")
                });
            data.join("demo").join(MODEL_FILE)
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "llama_cpp is installed but the model {} is missing: run scripts/install-demo-pack.sh or set SAGE_SMOL_GGUF",
            path.display()
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn start_server(python: &str, model: &Path, port: u16, log: &Path) -> Result<Server, String> {
    let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let child = Command::new(python)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--model_alias",
            "smol",
            "--n_ctx",
            "8192",
            "--n_threads",
            "2",
        ])
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("could not start the server: {e}"))?;
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(180);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not listen on port {port} within 180 s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(server)
}

fn sage(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(args)
        .env("SAGE_DATA_DIR", data)
        .env_remove("SAGE_LLM_API_KEY")
        .output()
        .expect("the sage binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(python: &str) -> Result<(), String> {
    let model = model_path()?;
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port()?;
    let log = data.path().join("server.log");
    let _server = start_server(python, &model, port, &log)?;
    let spec = format!("http://127.0.0.1:{port}/v1#smol");

    let started = Instant::now();
    let check = sage(data.path(), &["llm", "check", "--llm", &spec]);
    println!(
        "sage llm check ({:.1} s):\n{}{}",
        started.elapsed().as_secs_f64(),
        text(&check.stdout),
        text(&check.stderr)
    );
    if !check.status.success() {
        return Err(format!(
            "`sage llm check` failed; server log: {}",
            log.display()
        ));
    }
    let check_out = text(&check.stdout);
    if !check_out.contains("structured replies: json_object+schema") {
        return Err(format!(
            "llama-cpp-python takes json_object with a schema, the check found otherwise:\n{check_out}"
        ));
    }

    let out = data.path().join("out");
    let started = Instant::now();
    let explain = sage(
        data.path(),
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "0..3",
            "--llm",
            &spec,
            "--max-rounds",
            "1",
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap_or("out"),
        ],
    );
    let wall = started.elapsed();
    let stdout = text(&explain.stdout);
    let stderr = text(&explain.stderr);
    println!(
        "sage explain: exit {:?} in {:.1} s\n{stdout}{stderr}",
        explain.status.code(),
        wall.as_secs_f64()
    );
    let explained = (0..3)
        .filter(|f| out.join(format!("feature-{f}.json")).is_file())
        .count();
    match explain.status.code() {
        Some(0) if explained == 3 => {}
        Some(1) if explained < 3 => {
            let reasons = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with("feature "))
                .count();
            if reasons != 3 - explained {
                return Err(format!(
                    "{} feature(s) failed but {reasons} reason line(s) were printed",
                    3 - explained
                ));
            }
        }
        other => {
            return Err(format!(
                "exit status {other:?} with {explained} of 3 explained; server log: {}",
                log.display()
            ));
        }
    }
    let listing = sage(data.path(), &["sessions", "--json"]);
    let rows: Vec<serde_json::Value> = text(&listing.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if rows.len() != 3 {
        return Err(format!("expected 3 sessions, found {}", rows.len()));
    }
    for row in &rows {
        println!(
            "feature {}: {} · tokens {} · steps {} · tokens/step {}",
            row["feature"], row["status"], row["tokens"], row["steps"], row["tokens_per_step"]
        );
        if row["tokens"].as_u64().unwrap_or(0) == 0 {
            return Err(format!("a session counted no tokens: {row}"));
        }
    }
    Ok(())
}
