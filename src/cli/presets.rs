//! Named starting points for the TUI: what `sage explore --preset NAME`
//! and the start screen offer. Each preset resolves to an activation
//! source choice and says, when it cannot run here, the command that fixes it.

use sage::activation::synthetic::SyntheticSource;
use sage::config::Paths;
use sage::model::WeightDtype;
use sage::tui::start::Preset;

use super::demo::DemoPack;
use super::instruments::SourceChoice;

/// The name of the offline demo preset.
pub const DEMO: &str = "demo";

/// A preset together with the source it opens.
#[derive(Debug, Clone)]
pub struct NamedPreset {
    /// What the start screen shows.
    pub preset: Preset,
    /// What it opens.
    pub source: SourceChoice,
}

/// Every preset, the offline demo first.
pub fn all(paths: &Paths) -> Vec<NamedPreset> {
    let demo = demo_preset(paths);
    let synthetic = SyntheticSource::new();
    vec![
        demo,
        NamedPreset {
            preset: Preset {
                name: "synthetic".into(),
                description: "built-in features with known rules over a built-in corpus: a fast, fully offline tour of the agent".into(),
                missing: None,
                live_features: (0..synthetic.features().len() as u32).map(|i| (i, 1.0)).collect(),
                n_features: synthetic.features().len() as u32,
                default_feature: None,
            },
            source: SourceChoice::Synthetic,
        },
        NamedPreset {
            preset: Preset {
                name: "gpt2-small-res-jb".into(),
                description: "GPT-2 small with Joseph Bloom's residual SAE at blocks.8.hook_resid_pre (weights from the Hugging Face cache or hub)".into(),
                missing: None,
                live_features: Vec::new(),
                n_features: 24576,
                default_feature: None,
            },
            source: SourceChoice::Local {
                model: "gpt2".into(),
                sae: "gpt2-small-res-jb/blocks.8.hook_resid_pre".into(),
                corpus: None,
                dtype: WeightDtype::F32,
            },
        },
        NamedPreset {
            preset: Preset {
                name: "neuronpedia-gpt2-small".into(),
                description: "gpt2-small 8-res-jb served by Neuronpedia (network; set NEURONPEDIA_API_KEY if your instance needs one)".into(),
                missing: None,
                live_features: Vec::new(),
                n_features: 24576,
                default_feature: None,
            },
            source: SourceChoice::Neuronpedia {
                model_id: "gpt2-small".into(),
                sae_id: "8-res-jb".into(),
                base_url: None,
            },
        },
    ]
}

/// The demo preset: ready when the pack is installed, with the live
/// latents of an earlier mining run when one is cached (otherwise they are
/// mined when the preset is opened).
fn demo_preset(paths: &Paths) -> NamedPreset {
    let located = DemoPack::locate(paths);
    let summary = located.as_ref().ok().and_then(|p| p.cached_summary(paths));
    let n_features = match (&summary, &located) {
        (Some(s), _) => s.n_features,
        (None, Ok(pack)) => pack.n_features().unwrap_or(0),
        (None, Err(_)) => 0,
    };
    let model = paths.demo_model();
    let dir = paths.demo_dir();
    NamedPreset {
        preset: Preset {
            name: DEMO.into(),
            description: "SmolLM2-135M-Instruct (Q4_1 GGUF) with the demo SAE trained by `sage train-sae`, top examples mined from the demo corpus; offline".into(),
            missing: located.as_ref().err().map(ToString::to_string),
            live_features: summary.as_ref().map(|s| s.live.clone()).unwrap_or_default(),
            n_features,
            default_feature: summary.as_ref().map(|s| s.default_feature),
        },
        source: SourceChoice::Local {
            model: model.display().to_string(),
            sae: dir.join("sae").display().to_string(),
            corpus: Some(dir.join("corpus")),
            dtype: WeightDtype::F32,
        },
    }
}

/// Finds a preset by name, or says which names exist.
pub fn find(paths: &Paths, name: &str) -> anyhow::Result<NamedPreset> {
    let presets = all(paths);
    let names: Vec<String> = presets.iter().map(|p| p.preset.name.clone()).collect();
    presets
        .into_iter()
        .find(|p| p.preset.name == name)
        .ok_or_else(|| anyhow::anyhow!("unknown preset `{name}`; presets: {}", names.join(", ")))
}
