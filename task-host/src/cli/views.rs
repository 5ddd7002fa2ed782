//! `ferry datasets ...` and `ferry tasks list`: the store, as tables for
//! people or JSON (`--json`) for programs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::store::{DatasetRecord, Progress, StoreError, TaskRecord, TaskStore};

pub async fn datasets_list(store: &dyn TaskStore, as_json: bool) -> Result<(), StoreError> {
    let datasets = store.datasets().await?;
    if as_json {
        let all: Vec<Value> = datasets.iter().map(|dataset| dataset_json(dataset, None)).collect();
        print_json(&Value::Array(all));
        return Ok(());
    }
    let rows = datasets
        .iter()
        .map(|dataset| vec![dataset.name.clone(), dataset.state.to_string(), timestamp(dataset.updated_at_ms)])
        .collect();
    print_table(&["DATASET", "STATE", "UPDATED"], rows);
    Ok(())
}

pub async fn dataset_view(store: &dyn TaskStore, name: &str, as_json: bool) -> Result<(), StoreError> {
    let dataset = store
        .dataset(name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no dataset named {name} in this store")))?;
    let tasks = store.tasks(name).await?;
    if as_json {
        print_json(&dataset_json(&dataset, Some(&tasks)));
        return Ok(());
    }
    let progress = total_progress(&tasks);
    let mut out = String::new();
    let _ = writeln!(out, "dataset   {}", dataset.name);
    let _ = writeln!(out, "state     {}", dataset.state);
    let _ = writeln!(out, "created   {}", timestamp(dataset.created_at_ms));
    let _ = writeln!(out, "updated   {}", timestamp(dataset.updated_at_ms));
    let by_state: Vec<String> =
        tasks_by_state(&tasks).iter().map(|(state, count)| format!("{count} {state}")).collect();
    let _ = writeln!(out, "tasks     {} ({})", tasks.len(), by_state.join(", "));
    let _ = writeln!(
        out,
        "records   {}: {} documents, {} errors, {} skipped",
        progress.records(),
        progress.processed,
        progress.errored,
        progress.skipped
    );
    let _ = writeln!(out, "config    {}", dataset.config_json.trim());
    emit(&out);
    Ok(())
}

pub async fn tasks_list(store: &dyn TaskStore, dataset: &str, as_json: bool) -> Result<(), StoreError> {
    if store.dataset(dataset).await?.is_none() {
        return Err(StoreError::NotFound(format!("no dataset named {dataset} in this store")));
    }
    let tasks = store.tasks(dataset).await?;
    if as_json {
        print_json(&Value::Array(tasks.iter().map(task_json).collect()));
        return Ok(());
    }
    let rows = tasks
        .iter()
        .map(|task| {
            vec![
                task.task_id.clone(),
                task.state.to_string(),
                task.progress.processed.to_string(),
                task.progress.errored.to_string(),
                task.progress.skipped.to_string(),
                task.checkpoint.as_ref().map_or_else(|| "-".to_owned(), |checkpoint| checkpoint.source.clone()),
                task.last_error.as_deref().map_or_else(|| "-".to_owned(), first_line),
            ]
        })
        .collect();
    print_table(&["TASK", "STATE", "DOCUMENTS", "ERRORS", "SKIPPED", "CHECKPOINT", "LAST ERROR"], rows);
    Ok(())
}

fn dataset_json(dataset: &DatasetRecord, tasks: Option<&[TaskRecord]>) -> Value {
    let mut value = json!({
        "name": dataset.name,
        "state": dataset.state.as_str(),
        "createdAt": timestamp(dataset.created_at_ms),
        "updatedAt": timestamp(dataset.updated_at_ms),
    });
    if let Some(tasks) = tasks {
        let progress = total_progress(tasks);
        value["tasks"] = json!({
            "total": tasks.len(),
            "byState": tasks_by_state(tasks),
        });
        value["progress"] = progress_json(progress);
        value["config"] =
            serde_json::from_str(&dataset.config_json).unwrap_or(Value::String(dataset.config_json.clone()));
    }
    value
}

fn task_json(task: &TaskRecord) -> Value {
    json!({
        "task": task.task_id,
        "state": task.state.as_str(),
        "progress": progress_json(task.progress),
        "checkpoint": task.checkpoint.as_ref().map(|checkpoint| json!({
            "source": checkpoint.source,
            "sink": checkpoint.sink,
        })),
        "lastError": task.last_error,
        "updatedAt": timestamp(task.updated_at_ms),
    })
}

fn progress_json(progress: Progress) -> Value {
    json!({
        "processed": progress.processed,
        "errored": progress.errored,
        "skipped": progress.skipped,
    })
}

fn total_progress(tasks: &[TaskRecord]) -> Progress {
    let mut total = Progress::default();
    for task in tasks {
        total.add(task.progress);
    }
    total
}

fn tasks_by_state(tasks: &[TaskRecord]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for task in tasks {
        *counts.entry(task.state.as_str()).or_insert(0) += 1;
    }
    counts
}

fn timestamp(ms: i64) -> String {
    let since_epoch = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(UNIX_EPOCH + since_epoch).to_string()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn print_json(value: &Value) {
    emit(&format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()));
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn emit(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|header| (*header).to_owned()).collect());
    for row in rows {
        line(row);
    }
    emit(&out);
}
