"""No role includes one of its task files from itself, directly or through other files: Ansible
nests every include, so a wait written as a self-including task file dies after a few hundred
rounds (RecursionError) and costs more at each round. Long waits are loops or action plugins."""
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
INCLUDE_ACTIONS = {prefix + name for prefix in ("", "ansible.builtin.", "ansible.legacy.") for name in ("include_tasks", "import_tasks")}
TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def tasks_of(items):
    """Every task in a task list, blocks opened."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for section in ("block", "rescue", "always"):
            yield from tasks_of(item.get(section))


def choices(role_dir):
    """Variable name -> allowed values, from the role's argument specs."""
    path = os.path.join(role_dir, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        specs = yaml.safe_load(handle) or {}
    out = {}
    for entry in (specs.get("argument_specs") or {}).values():
        for name, option in ((entry or {}).get("options") or {}).items():
            if option.get("choices"):
                out[name] = [str(c) for c in option["choices"]]
    return out


def targets(name, task_files, allowed):
    """The role task files an include name can resolve to. A name that is one variable alone is a
    file the user supplies (a hook); a variable with choices expands to them; anything else
    templated may be any task file whose name fits."""
    name = name.strip()
    if TEMPLATE.fullmatch(name):
        return []
    variables = TEMPLATE.findall(name)
    if len(variables) == 1 and variables[0] in allowed:
        return [f for f in (TEMPLATE.sub(choice, name) for choice in allowed[variables[0]]) if f in task_files]
    pattern = re.compile("^" + ".*".join(re.escape(part) for part in TEMPLATE.split(name)[::2]) + "$")
    return [f for f in task_files if pattern.match(f)]


def include_graph(role_dir):
    tasks_dir = os.path.join(role_dir, "tasks")
    task_files = sorted(f for f in os.listdir(tasks_dir) if f.endswith((".yml", ".yaml")))
    allowed = choices(role_dir)
    graph = {}
    for filename in task_files:
        with open(os.path.join(tasks_dir, filename)) as handle:
            content = yaml.safe_load(handle)
        edges = set()
        for task in tasks_of(content):
            for action in INCLUDE_ACTIONS & set(task):
                value = task[action]
                name = value.get("file", "") if isinstance(value, dict) else str(value)
                edges.update(targets(os.path.basename(name) if "/" in name and "{{" not in name else name, task_files, allowed))
        graph[filename] = edges
    return graph


def cycles(graph):
    """Each include chain that comes back to a file it started from, as a list of files."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def roles():
    base = os.path.join(ROOT, "roles")
    return sorted(os.path.join(base, r) for r in os.listdir(base) if os.path.isdir(os.path.join(base, r, "tasks")))


def test_no_role_includes_a_task_file_from_itself():
    checked = 0
    for role_dir in roles():
        graph = include_graph(role_dir)
        checked += len(graph)
        assert cycles(graph) == [], "%s: %s" % (os.path.basename(role_dir), cycles(graph))
    assert checked > 40  # the four roles were read


def write_role(tmp_path, files, specs=None):
    tasks = tmp_path / "role" / "tasks"
    tasks.mkdir(parents=True)
    for name, content in files.items():
        (tasks / name).write_text(content)
    if specs:
        (tmp_path / "role" / "meta").mkdir()
        (tmp_path / "role" / "meta" / "argument_specs.yml").write_text(specs)
    return str(tmp_path / "role")


def test_finds_a_file_that_includes_itself_inside_a_block(tmp_path):
    role = write_role(tmp_path, {"wait.yml": "- block:\n    - ansible.builtin.include_tasks: wait.yml\n      when: not done\n"})
    assert cycles(include_graph(role)) == [["wait.yml", "wait.yml"]]


def test_finds_a_loop_through_other_files_and_templated_names(tmp_path):
    role = write_role(tmp_path, {
        "main.yml": "- include_tasks: '{{ phase }}.yml'\n",
        "move.yml": "- ansible.builtin.import_tasks: {file: watch.yml}\n",
        "watch.yml": "- ansible.builtin.include_tasks: main.yml\n",
        "hook.yml": "- ansible.builtin.include_tasks: '{{ user_hook_file }}'\n",
    }, specs="argument_specs:\n  main:\n    options:\n      phase: {type: str, choices: [move]}\n")
    assert cycles(include_graph(role)) == [["main.yml", "move.yml", "watch.yml", "main.yml"]]
    assert include_graph(role)["hook.yml"] == set()
