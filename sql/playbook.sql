--
-- noetl.parse_playbook: validation and normalisation of playbooks
--
-- both DSL eras normalise to one shape: tool, args, next as a list
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {name: shapes, path: tests/shapes}
workflow:
  - step: start
    next: first
  - step: first
    type: python
    with: {a: 1}
    data: {b: 2}
    code: "def main(a, b): return a + b"
    next:
      - when: "{{ result > 2 }}"
        then: [big, {step: other, args: {x: 1}}]
      - step: end
  - step: big
    tool: http
    url: http://localhost/
    next: [end]
  - step: other
    tool: router
    next: [{step: end}]
  - step: end
$$) -> 'workflow');

-- era-b iterator with task: and save: becomes loop: and sink:
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {name: loops}
workflow:
  - step: start
    type: iterator
    collection: "{{ workload.items }}"
    element: item
    task:
      type: python
      code: "def main(item): return item"
      save: {storage: postgres, table: t}
    next: end
  - step: end
$$) -> 'workflow' -> 0);

-- workbook steps are resolved, the step's own fields winning
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {path: tests/wb}
workbook:
  - name: calc
    tool: python
    code: "def main(x, y): return x"
    args: {x: 1, y: 2}
workflow:
  - step: start
    type: workbook
    name: calc
    args: {y: 3}
$$) -> 'workflow' -> 0);

-- JSON text is read by the JSON parser (1e5 is a number there, a string in YAML 1.1)
SELECT noetl.parse_playbook('{"metadata": {"path": "j"}, "workload": {"n": 1e5}, "workflow": [{"step": "start"}]}') -> 'workload';
SELECT noetl.parse_playbook(E'metadata: {path: y}\nworkload: {n: 1e5}\nworkflow: [{step: start}]') -> 'workload';

-- refusals name the location
SELECT noetl.parse_playbook('[1, 2]');
SELECT noetl.parse_playbook('{"a": 1}');
SELECT noetl.parse_playbook(E'kind: Credential\nmetadata: {name: x}\nworkflow: [{step: start}]');
SELECT noetl.parse_playbook(E'workflow: [{step: start}]');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: []');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: {step: start}');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: begin\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - step: a\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - step: ""\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - desc: no name\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: a}, {step: hot_pat}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{stpe: a}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: a, wehn: x}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [42]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: start, when: [1]}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    type: workbook\n    name: nope\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    type: http\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    type: iterator\n    collection: [1]\n    element: i\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {collection: [1]}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {in: [1], iterator: i, where: x}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    retry: {max_attempt: 3}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: playbook\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    args: "{{ workload }}"\n    with: {a: 1}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: [{step: start}]\nworkload: [1]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkbook: [{name: w, tool: python}, {name: w, tool: http}]\nworkflow: [{step: start}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x\nworkflow: [{step: start}]\n');
