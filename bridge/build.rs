//! With the `python` feature: embeds the ferry Python SDK sources into the
//! bridge, and points the binary's rpath at the libpython it was linked
//! against (pyenv builds carry no rpath of their own, and without one the
//! loader silently picks a different libpython at run time).

fn main() {
    #[cfg(feature = "python")]
    python::configure();
}

#[cfg(feature = "python")]
mod python {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    const SDK_ROOT: &str = "../python-sdk/src";
    const SDK_PACKAGES: [&str; 2] = ["ferry", "letsdata_interfaces"];

    pub fn configure() {
        let config = pyo3_build_config::get();
        if let Some(lib_dir) = config.lib_dir() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        }
        embed_sdk();
    }

    fn embed_sdk() {
        let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.join(SDK_ROOT);
        let mut files = Vec::new();
        for package in SDK_PACKAGES {
            collect_python_files(&root, &root.join(package), &mut files);
        }
        files.sort();
        let mut generated = String::from("pub const SDK_FILES: &[(&str, &str)] = &[\n");
        for (relative, absolute) in &files {
            println!("cargo:rerun-if-changed={}", absolute.display());
            let _ = writeln!(generated, "    ({relative:?}, include_str!({:?})),", absolute.display().to_string());
        }
        generated.push_str("];\n");
        for package in SDK_PACKAGES {
            println!("cargo:rerun-if-changed={}", root.join(package).display());
        }
        let out = PathBuf::from(env_var("OUT_DIR")).join("python_sdk_files.rs");
        if let Err(err) = std::fs::write(&out, generated) {
            panic!("cannot write {}: {err}", out.display());
        }
    }

    fn collect_python_files(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => panic!("cannot read the Python SDK at {}: {err}", dir.display()),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "__pycache__") {
                    collect_python_files(root, &path, files);
                }
            } else if path.extension().is_some_and(|ext| ext == "py") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((relative, path));
            }
        }
    }

    fn env_var(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
    }
}
