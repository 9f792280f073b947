"""The typed report model and its one renderer.

- `vocabulary`: statuses, outcomes, verdicts, how a run ended, failure kinds; each with its icon and colour.
- `signoff`: SignoffReport and its parts, one signoff.json per run (with a schema version).
- `ladder`: PrecisionLadder, the precision variants beside a run (precision/ladder.json).
- `serial`: the JSON round-trip of those dataclasses.
- `render`: render(reports_dir) writes signoff.md, the plots, the Allure run files and the headline from
  them (`markdown`, `plots`, `allure_files`); `terminal` prints the criteria table.
"""
