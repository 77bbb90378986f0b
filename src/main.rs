//! The `sage` command line: parse arguments, dispatch, report errors.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) if err.is::<cli::PartialFailure>() => {
            eprintln!("{}", sage::escape::terminal(&err.to_string()));
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            // Errors quote servers, files and URLs: print them defanged.
            let text = sage::net::strip_userinfo(&format!("{err:#}"));
            eprintln!("error: {}", sage::escape::terminal(&text));
            let usage = err.chain().any(|cause| cause.is::<cli::UsageError>());
            std::process::ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
