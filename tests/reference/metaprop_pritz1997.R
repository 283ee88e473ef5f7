# Reference values for pooled proportions shown as proportions (the Stata translator's
# metaprop, ipdmeta.pooling.proportions.back_transformed), computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metaprop_pritz1997.R
# It writes tests/reference/metaprop_pritz1997.json, which tests/test_metaprop.py reads
# (the data are stored in the JSON: no R needed to run the tests).
#
# Requires: metafor (written with 3.8.1), metadat, stats.  Numbers: 17 significant digits.
#
# Data: metadat::dat.pritz1997 (14 studies; two with x = n).
# Per measure (PR, PLO, PFT; escalc defaults: add = 1/2 to = "only0" for PR and PLO,
# none for PFT) and model (rma method "DL" and "EE"):
#   * the pooled estimate and Wald CI and the prediction interval, back-transformed with
#     predict(): transf.ilogit (PLO), transf.ipft.hm with targs = list(ni = ni) (PFT), none
#     (PR), and the analysis-scale estimate, se, tau2;
#   * per study, the Wald interval of escalc's yi, vi back-transformed (transf.ilogit;
#     transf.ipft with each study's ni);
# and per study the exact (binom.test, Clopper-Pearson) and Wilson score
# (prop.test(correct = FALSE)) 95% intervals of xi/ni.
# A subgroup check: PFT, DL on the studies with ni >= 14 and ni < 14 separately (the
# harmonic mean of each subgroup's sizes back-transforms its pooled value).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})
source(file.path("tests", "reference", "write_json.R"))

pr <- dat.pritz1997
ctl <- list(threshold = 1e-12)
z <- qnorm(0.975)

back <- function(m, x, ni) {
  if (m == "PLO") return(transf.ilogit(x))
  if (m == "PFT") return(transf.ipft(x, ni))
  x
}

fit_case <- function(m, method, rows) {
  d <- pr[rows, ]
  es <- escalc(measure = m, xi = xi, ni = ni, data = d)
  fit <- rma(yi, vi, data = es, method = method, control = ctl)
  p <- switch(m,
              PLO = predict(fit, transf = transf.ilogit),
              PFT = predict(fit, transf = transf.ipft.hm, targs = list(ni = d$ni)),
              predict(fit))
  list(estimate = as.numeric(fit$b), se = fit$se, tau2 = fit$tau2,
       pooled = p$pred, ci_low = p$ci.lb, ci_high = p$ci.ub,
       pi_low = if (is.null(p$pi.lb)) NA else p$pi.lb,
       pi_high = if (is.null(p$pi.ub)) NA else p$pi.ub,
       study = I(back(m, as.numeric(es$yi), d$ni)),
       study_low = I(back(m, as.numeric(es$yi) - z * sqrt(es$vi), d$ni)),
       study_high = I(back(m, as.numeric(es$yi) + z * sqrt(es$vi), d$ni)))
}

cases <- list()
for (m in c("PR", "PLO", "PFT")) {
  for (method in c("DL", "EE")) {
    cases[[paste(m, method, sep = "_")]] <- fit_case(m, method, seq_len(nrow(pr)))
  }
}
big <- pr$ni >= 14
cases$PFT_DL_big <- fit_case("PFT", "DL", which(big))
cases$PFT_DL_small <- fit_case("PFT", "DL", which(!big))

exact <- t(mapply(function(x, n) binom.test(x, n)$conf.int, pr$xi, pr$ni))
wilson <- t(mapply(function(x, n) prop.test(x, n, correct = FALSE)$conf.int, pr$xi, pr$ni))

write_reference(list(
  description = "metadat::dat.pritz1997 pooled as proportions (metafor rma + predict)",
  metafor = as.character(packageVersion("metafor")),
  data = list(authors = as.character(pr$authors), xi = I(pr$xi), ni = I(pr$ni)),
  cases = cases,
  exact_low = I(exact[, 1]), exact_high = I(exact[, 2]),
  wilson_low = I(wilson[, 1]), wilson_high = I(wilson[, 2])),
  file.path("tests", "reference", "metaprop_pritz1997.json"))
