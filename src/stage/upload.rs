//! The upload: the filtered project (and resources) streamed into the container workdir, from
//! this host's folders or, for a project already in the container, out through the filter and
//! back in. Returns what was left out and what went in (checked again after the copy back).

use std::path::Path;

use anyhow::Context;

use crate::session::Session;
use crate::tar::write::{Owner, TarEntry};
use crate::workdir::report::ExclusionReport;
use crate::workdir::Workdir;

use super::plan::{ProjectSource, StagePlan};
use super::{provenance, walk};

/// Streams the filtered project (and resources) into the container workdir.
pub(super) async fn upload_project(
    session: &Session,
    plan: &StagePlan,
    into: &Workdir,
) -> anyhow::Result<(ExclusionReport, provenance::Provenance)> {
    let container = session.container();
    let docker = session.docker();
    match plan.source() {
        ProjectSource::Host {
            project_dir,
            resources_dir,
        } => {
            let (entries, excluded) =
                plan_host_upload(plan, project_dir, resources_dir.as_deref())?;
            tracing::info!(
                "copying {} entries into {}:{}",
                entries.len(),
                container.short_id(),
                plan.cw()
            );
            let went_in = provenance::Provenance::from_plan(&entries, &plan.project_prefix())?;
            let bytes = crate::tar::write::content_size(&entries);
            session
                .upload(
                    Box::new(crate::tar::write::planned(entries)),
                    bytes,
                    Owner::ROOT,
                    plan.cw(),
                    "staging",
                )
                .await
                .context("failed to stage the project into the container")?;
            Ok((excluded, went_in))
        }
        ProjectSource::Container { path } => {
            // The engine serialises archive operations on one container, so the filtered tar
            // cannot flow straight back in while it is still being read out: it is spooled to a
            // temporary file in the workdir (disk, not memory) and uploaded from there.
            tracing::info!(
                "copying {}:{path} to {} through a filter",
                container.short_id(),
                plan.cw()
            );
            let root = into.root();
            let spool = tempfile::Builder::new()
                .prefix(crate::workdir::SPOOL_PREFIX)
                .suffix(".tar")
                .tempfile_in(root)
                .with_context(|| {
                    format!("failed to create a spool file in `{}`", root.display())
                })?;
            let file = spool.reopen().context("failed to open the spool file")?;
            let bar = crate::progress::bytes("reading the project", None);
            let source = crate::tar::stream::boxed(crate::progress::track(
                docker.download(container.id(), path),
                bar.clone(),
            ));
            let filtered = walk::refilter_stream(
                source,
                StagePlan::skeleton(),
                plan.project_prefix(),
                plan.filter.clone(),
                std::io::BufWriter::new(file),
            )
            .await;
            bar.finish_and_clear();
            let (file, excluded) = filtered.with_context(|| {
                format!(
                    "failed to copy {}:{path} out of the container",
                    container.short_id()
                )
            })?;
            drop(file);
            let reader = tokio::fs::File::open(spool.path())
                .await
                .context("failed to read the spool file")?;
            let size = reader.metadata().await.map(|m| m.len()).ok();
            let bar = crate::progress::bytes("staging", size);
            let uploaded = docker
                .upload(
                    container.id(),
                    plan.cw(),
                    crate::progress::track(tokio_util::io::ReaderStream::new(reader), bar.clone()),
                )
                .await;
            bar.finish_and_clear();
            uploaded.context("failed to stage the project into the container")?;
            let went_in = provenance::Provenance::from_tar(spool.path(), &plan.project_prefix())?;
            Ok((excluded, went_in))
        }
    }
}

/// Plans the upload from host folders: project under `project/<name>`, resources under
/// `resources`, and an empty `pixi-cache`, all relative to the container workdir.
pub(super) fn plan_host_upload(
    plan: &StagePlan,
    project_dir: &Path,
    resources_dir: Option<&Path>,
) -> anyhow::Result<(Vec<TarEntry>, ExclusionReport)> {
    let workdir_inside_project = plan
        .workdir
        .root()
        .strip_prefix(project_dir)
        .ok()
        .map(Path::to_path_buf);
    let project_prefix = plan.project_prefix();
    let mut entries = StagePlan::skeleton();
    let (project, mut report) = walk::plan_filtered(project_dir, &project_prefix, &plan.filter)?;
    // A workdir inside the project (e.g. the default ./tmp/... run from the project folder)
    // must not be staged into itplan.
    let project = match workdir_inside_project {
        Some(rel) => {
            let skip = project_prefix.join(rel);
            project
                .into_iter()
                .filter(|e| !e.path.starts_with(&skip))
                .collect()
        }
        None => project,
    };
    entries.extend(project);
    if let Some(res) = resources_dir {
        let (mut resources, res_report) =
            walk::plan_filtered(res, Path::new(Workdir::RESOURCES), &plan.filter)?;
        // The resources root itself is already listed above.
        resources.retain(|e| e.path != Path::new(Workdir::RESOURCES));
        entries.extend(resources);
        report.merge(res_report);
    }
    Ok((entries, report))
}
