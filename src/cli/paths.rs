//! `sage paths`: where sage reads its config and writes sessions and caches.

use sage::config::Paths;

/// Arguments of `sage paths`.
#[derive(Debug, clap::Args)]
pub struct PathsArgs {
    /// Print JSON instead of one `name: path` line each.
    #[arg(long)]
    pub json: bool,
}

/// Prints the resolved paths.
pub fn run(args: PathsArgs) -> anyhow::Result<()> {
    let paths = Paths::resolve();
    let rows = [
        ("config_file", paths.config_file.clone()),
        ("data_dir", paths.data_dir.clone()),
        ("sessions_dir", paths.sessions_dir()),
        ("cache_dir", paths.cache_dir()),
    ];
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| (k.to_string(), v.display().to_string().into()))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        for (name, path) in rows {
            println!("{name}: {}", path.display());
        }
    }
    Ok(())
}
