"""The relationship simulator: a synthetic population contacted under several policies.

``regard simulate`` (``commands.py``) reads a scenario (``scenario.py``, default
``scenario.toml``), draws a population (``population.py``), runs it week by week under Regard's
policy, frequency caps only and spray and pray (``policies.py``, ``run.py``) with the response
models of ``responses.py``, and writes a report (``report.py``). docs/simulator.md has the
formulas.
"""
