"""harvestctl follows Ansible through its JSON events: progress, counts, and a failure's own words."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harvestctl.ansible import PlayResult, run_playbook
from harvestctl.errors import CliError, Exit

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Write a note
      ansible.builtin.copy:
        content: "bonjour\\n"
        dest: "{{ note }}"
    - name: Look at the menu
      ansible.builtin.command: "true"
      changed_when: false
"""
FAILING = """
    - name: Order a café crème
      ansible.builtin.fail:
        msg: "le café est froid — 冷たい ☕"
    - name: Never reached
      ansible.builtin.debug:
        msg: unreachable
"""


def _run(tmp_path: Path, play: str, tasks: list[str]) -> PlayResult:
    playbook = tmp_path / "play.yml"
    playbook.write_text(play, encoding="utf-8")
    private = tmp_path / "private"
    private.mkdir(mode=0o700, exist_ok=True)
    extra = ["-e", f"ansible_python_interpreter={sys.executable}", "-e", f"note={tmp_path / 'note'}"]
    return run_playbook(playbook, extra, tmp_path / "ansible.log", tasks.append, private=private)


def test_progress_and_counts_come_from_the_events(tmp_path: Path):
    tasks: list[str] = []
    result = _run(tmp_path, PLAY, tasks)
    assert tasks == ["Write a note", "Look at the menu"]
    assert (result.ok, result.changed, result.failed) == (2, 1, 0)
    assert "TASK [Write a note]" in (tmp_path / "ansible.log").read_text(encoding="utf-8")
    again = _run(tmp_path, PLAY, [])
    assert again.changed == 0


def test_a_failure_reaches_harvestctl_in_its_own_words(tmp_path: Path):
    tasks: list[str] = []
    with pytest.raises(CliError) as failed:
        _run(tmp_path, PLAY + FAILING, tasks)
    assert failed.value.code == Exit.PROVISION_FAILED
    assert failed.value.message == "provisioning failed at “Order a café crème”: le café est froid — 冷たい ☕"
    assert tasks[-1] == "Order a café crème"
    assert "le café est froid" in (tmp_path / "ansible.log").read_text(encoding="utf-8")
