# Hartung-Makambi tau2 from a second implementation: the R package pimeta 1.1.3
# (Nagashima, Noma & Furukawa), function tau2h(method = "HM") (Hartung & Makambi 2003).
#
# Run from the repository root:
#     Rscript tests/reference/stage2_pimeta.R
# It writes tests/reference/stage2_pimeta.json, read by tests/test_meta_reference.py (no R
# there).  Requires: pimeta 1.1.3 (CRAN; needs Rcpp, RcppEigen, ggplot2, scales), jsonlite.
#
# The estimator is in closed form, so no convergence settings apply.  The inputs (yi, vi)
# are read from stage2_extra.json: the six real data sets of the other references.
# (pimeta's REML-based Kenward-Roger intervals are not used: its REML stops at a relative
# change of 1e-5, too coarse for a 1e-9 comparison; R meta's are, in stage2_meta.R.)

suppressPackageStartupMessages(library(pimeta))
source(file.path("tests", "reference", "write_json.R"))
extra <- read_inputs("stage2_extra.json")

hm <- lapply(real_data_sets(extra), function(name) {
  d <- extra[[name]]
  list(data = name, tau2 = tau2h(d$yi, sqrt(d$vi), method = "HM")$tau2h)
})
notes <- list(pimeta_version = as.character(packageVersion("pimeta")),
              R_version = R.version.string, numbers = "17 significant digits")
write_reference(list(notes = notes, hartung_makambi = hm),
                file.path("tests", "reference", "stage2_pimeta.json"))
