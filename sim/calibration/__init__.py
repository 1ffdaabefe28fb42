"""Calibration infrastructure: targets, cohort summary statistics, the target table, sensitivity analysis, ABC.

Modules
-------
``settings``        definitions and defaults of the runs (statistics, sensitivity, ABC), light to import
``targets``         the targets file (calibrate / prior / check entries) and the schema's calibrated parameters
``stats``           summary statistics of a virtual cohort, defined to match the targets
``validate``        the target table (target vs simulated, inside / outside / not simulated)
``cohort_adapter``  the one coupling to the cohort runner (simulate K patients with parameter overrides)
``sensitivity``     SALib Morris and Sobol analyses
``abc``             pyabc ABC-SMC wiring (optional extra ``[calibrate]``)
"""
