"""The tiny model through LightEval + transformers on CPU, with every network call refused."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")
    socket.socket.connect = refuse
    socket.create_connection = refuse

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.eval.runner import evaluate_checkpoint

    profile = load_profile("local")
    result = evaluate_checkpoint(sys.argv[1], profile.eval, "tiny.base")
    assert "lighteval.tasks.tasks.tiny_benchmarks" not in sys.modules
    print("TASKS", sorted(result.scores["task"].unique()))
    print("ROWS", result.details.height)
    fr = result.details.filter(result.details["language"] == "fr")["prompt"][0]
    en = result.details.filter(result.details["language"] == "en")["prompt"][0]
    print("FR_SYSTEM", "Vous êtes un assistant utile." in fr)
    print("EN_SYSTEM", "You are a helpful assistant." in en)
    print("NO_THINK", "<think>\\n\\n</think>" in fr)
    """
)


def test_local_suites_run_end_to_end_offline(tiny_model_path, local_profile):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, tiny_model_path], capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.split(" ", 1)[0].isupper())
    tasks = eval(out["TASKS"])  # noqa: S307 - our own printed list
    assert {"ifeval_fr", "gpqa_fr:diamond", "mmlu_fr", "math_500_fr", "arc_challenge_fr", "hellaswag_fr"} <= set(tasks)
    assert {"ifeval", "mmlu", "math_500", "arc:challenge", "hellaswag", "gpqa:diamond"} <= set(tasks)
    # max_samples = 10 per task in the local profile, 12 tasks
    assert int(out["ROWS"]) == 10 * len(tasks)
    assert out["FR_SYSTEM"] == "True" and out["EN_SYSTEM"] == "True"
    assert out["NO_THINK"] == "True"  # enable_thinking=False reached the chat template


def test_lighteval_cli_inspects_our_tasks_offline(local_profile):
    """LightEval's own CLI with `--custom-tasks`, through our offline registry wrapper."""
    proc = subprocess.run(
        [sys.executable, "-m", "luth_pipeline.core.eval.cli", "tasks", "inspect", "gpqa_fr:diamond", "--custom-tasks",
         str(local_profile.resolve_path("luth_pipeline/core/eval/tasks.py"))],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'task_name': 'gpqa_fr:diamond'" in proc.stdout
    # the French simple-evals MCQ prompt (pprint may wrap the line between its two halves)
    assert "'Réponse : " in proc.stdout and "$LETTRE'" in proc.stdout
