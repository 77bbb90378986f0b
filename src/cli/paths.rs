//! `sage paths`: where sage reads its config and writes sessions and caches,
//! and which CPU kernels run on this machine.

use sage::config::Paths;
use sage::model::cpu::kernel_report;

/// Arguments of `sage paths`.
#[derive(Debug, clap::Args)]
pub struct PathsArgs {
    /// Print JSON instead of one `name: path` line each.
    #[arg(long)]
    pub json: bool,
}

/// Prints the resolved paths and the kernels.
pub fn run(args: PathsArgs) -> anyhow::Result<()> {
    let paths = Paths::resolve();
    let kernels = kernel_report();
    let rows = [
        ("config_file", paths.config_file.display().to_string()),
        ("data_dir", paths.data_dir.display().to_string()),
        ("sessions_dir", paths.sessions_dir().display().to_string()),
        ("cache_dir", paths.cache_dir().display().to_string()),
        ("kernel_f32", kernels.f32.to_string()),
        ("kernel_bf16", kernels.bf16.to_string()),
        ("kernel_elementwise", kernels.elementwise.to_string()),
        ("cpu_flags", kernels.cpu_flags.join(" ")),
    ];
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().into()))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        for (name, value) in rows {
            println!("{name}: {value}");
        }
    }
    Ok(())
}
