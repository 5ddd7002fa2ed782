//! With the `python` feature: embeds the ferry Python SDK sources into the
//! bridge, and points the binary's rpath at the libpython it was linked
//! against (pyenv builds carry no rpath of their own, and without one the
//! loader silently picks a different libpython at run time).
//!
//! With the `js` feature: embeds the ferry JavaScript SDK's engine-neutral
//! modules, and records the deno_core version the lock file pins, for the
//! handshake's runtime description.
//!
//! Always: records the compiler's version, which in-process Rust handlers
//! report as their runtime (they are built by the same compiler).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .unwrap_or_default();
    println!("cargo:rustc-env=FERRY_RUSTC_VERSION={}", version.trim());
    #[cfg(feature = "python")]
    python::configure();
    #[cfg(feature = "js")]
    js::configure();
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

#[cfg(feature = "js")]
mod js {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    const SDK_ROOT: &str = "../js-sdk";
    /// The SDK's entry point and the directory of its modules.
    const SDK_ENTRY: &str = "index.js";
    const SDK_MODULES: &str = "src";
    /// Node-only modules, which cannot run in the embedded engine.
    const NODE_ONLY: [&str; 1] = ["src/harness.js"];
    const LOCK_FILE: &str = "../Cargo.lock";

    pub fn configure() {
        let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
        embed_sdk(&manifest_dir.join(SDK_ROOT));
        record_deno_core_version(&manifest_dir.join(LOCK_FILE));
    }

    fn embed_sdk(root: &Path) {
        let mut files = vec![(SDK_ENTRY.to_owned(), root.join(SDK_ENTRY))];
        let modules = root.join(SDK_MODULES);
        let entries = match std::fs::read_dir(&modules) {
            Ok(entries) => entries,
            Err(err) => panic!("cannot read the JavaScript SDK at {}: {err}", modules.display()),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
            let relative = format!("{SDK_MODULES}/{name}");
            if path.extension().is_some_and(|ext| ext == "js") && !NODE_ONLY.contains(&relative.as_str()) {
                files.push((relative, path));
            }
        }
        files.sort();
        let mut generated = String::from("pub const SDK_FILES: &[(&str, &str)] = &[\n");
        for (relative, absolute) in &files {
            println!("cargo:rerun-if-changed={}", absolute.display());
            let _ = writeln!(generated, "    ({relative:?}, include_str!({:?})),", absolute.display().to_string());
        }
        generated.push_str("];\n");
        println!("cargo:rerun-if-changed={}", modules.display());
        let out = PathBuf::from(env_var("OUT_DIR")).join("js_sdk_files.rs");
        if let Err(err) = std::fs::write(&out, generated) {
            panic!("cannot write {}: {err}", out.display());
        }
    }

    /// Sets `FERRY_DENO_CORE_VERSION` to the locked deno_core version, or to
    /// the requirement's "0.413" when the crate is built without the
    /// workspace's lock file.
    fn record_deno_core_version(lock_file: &Path) {
        println!("cargo:rerun-if-changed={}", lock_file.display());
        let version = std::fs::read_to_string(lock_file)
            .ok()
            .and_then(|lock| locked_version(&lock, "deno_core"))
            .unwrap_or_else(|| "0.413".to_owned());
        println!("cargo:rustc-env=FERRY_DENO_CORE_VERSION={version}");
    }

    fn locked_version(lock: &str, package: &str) -> Option<String> {
        let name_line = format!("name = \"{package}\"");
        let mut lines = lock.lines();
        lines.find(|line| *line == name_line)?;
        let version = lines.next()?.strip_prefix("version = \"")?.strip_suffix('"')?;
        Some(version.to_owned())
    }

    fn env_var(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
    }
}
