//! WASI commands: output, args, env and exit code of the task.

use anyhow::Result;
use test_programs_artifacts::{
    CLI_ECHO_COMPONENT, CLI_ECHO_P1_MODULE, CLI_EXIT_COMPONENT, CLI_LOOP_COMPONENT,
};

use crate::containerd::{BOUND, Containerd, LIBCONTAINER_RACE, describe, unique_id};
use crate::image::Image;

#[test]
fn cli_component_gets_args_env_and_writes_to_the_task_output() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-cli-echo")
        .file_from("/echo.wasm", CLI_ECHO_COMPONENT)?
        .entrypoint(&["/echo.wasm"])
        .env("FROM_IMAGE=image-value");
    containerd.import_image(&image)?;
    let out = containerd.run(
        &["--env", "FROM_RUN=run value"],
        image.reference(),
        &unique_id("echo"),
        &["/echo.wasm", "first", "second arg"],
    )?;
    let all = describe(&out);
    assert!(out.status.success(), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "arg[0]=echo.wasm",
        "arg[1]=first",
        "arg[2]=second arg",
        "env:FROM_IMAGE=image-value",
        "env:FROM_RUN=run value",
    ] {
        assert!(stdout.lines().any(|l| l == line), "no `{line}` in:\n{all}");
    }
    assert!(!stdout.contains("arg[3]"), "{all}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stderr-line"),
        "the guest's stderr is not the task's stderr:\n{all}"
    );
    Ok(())
}

#[test]
fn p1_module_runs_as_a_command() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-p1-echo")
        .file_from("/echo-p1.wasm", CLI_ECHO_P1_MODULE)?
        .entrypoint(&["/echo-p1.wasm", "from-image"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("p1"), &[])?;
    let all = describe(&out);
    assert!(out.status.success(), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("arg[1]=from-image"), "{all}");
    Ok(())
}

#[test]
fn command_exit_code_is_the_task_exit_code() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-cli-exit")
        .file_from("/exit.wasm", CLI_EXIT_COMPONENT)?
        .entrypoint(&["/exit.wasm"])
        .cmd(&["7"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("exit"), &[])?;
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let out = containerd.run(
        &[],
        image.reference(),
        &unique_id("exit"),
        &["/exit.wasm", "0"],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Ok(())
}

#[test]
fn kill_stops_a_running_command() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-cli-loop")
        .file_from("/loop.wasm", CLI_LOOP_COMPONENT)?
        .entrypoint(&["/loop.wasm"]);
    containerd.import_image(&image)?;
    let mut attempt = 0;
    let out = loop {
        let id = unique_id("loop");
        let mut child = containerd.spawn_run(&[], image.reference(), &id)?;
        // SIGTERM until the task is gone: the first one may land before the guest runs
        // (a container's init process ignores signals it has no handler for yet).
        let start = std::time::Instant::now();
        while child.try_wait()?.is_none() {
            anyhow::ensure!(
                start.elapsed() < BOUND,
                "the command ignored SIGTERM for {BOUND:?}"
            );
            let _ = containerd.ctr(&["task", "kill", &id])?;
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let out = child.wait_with_output()?;
        if attempt < 3 && String::from_utf8_lossy(&out.stderr).contains(LIBCONTAINER_RACE) {
            attempt += 1;
            continue;
        }
        break out;
    };
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(143), "{all}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skiff: stopped by signal"),
        "{all}"
    );
    Ok(())
}
