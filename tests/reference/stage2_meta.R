# A second, independent reference for methods that metafor does not have: the R package
# meta (Schwarzer), version 7.0-0.
#
# Run from the repository root:
#     Rscript tests/reference/stage2_meta.R
# It writes tests/reference/stage2_meta.json, read by tests/test_meta_reference.py (no R
# there).  Requires: meta 7.0-0 (CRAN archive meta_7.0-0.tar.gz; it needs metafor, lme4,
# CompQuadForm, xml2 and dplyr), metafor 3.8.1, jsonlite.
#
# The input data are not rebuilt here: they are read from the JSON files of the other
# reference scripts, so both references see exactly the same numbers:
#   stage2_extra.json  yi, vi of six real data sets (metadat)  -> Kenward-Roger, HKSJ variants
#   stage2_bias.json   2x2 counts of dat.bcg and dat.egger2001  -> Harbord's and Peters' tests
#
# What is taken from meta:
#   metagen(method.tau = "REML", method.random.ci = "KR")   Kenward-Roger interval, se and df
#       (meta's kenwardroger(), from Partlett & Riley 2017, Stat Med 36:301-317: expected
#       information, variance and df as Kenward & Roger 1997 for this model)
#   metagen(method.random.ci = "HK", adhoc.hakn.ci = "ci")  HKSJ interval replaced by the
#       classic one when that is wider (Jackson et al. 2017) = metan's truncate(zovert)
#   metagen(method.random.ci = "HK", adhoc.hakn.ci = "se")  HKSJ factor truncated at 1
#       (Knapp & Hartung 2003) = metafor's test = "adhoc"
#   metagen(method.predict = "KR")                        Partlett & Riley's prediction
#       interval: t with df_KR - 1 and sqrt(se_KR^2 + tau2)
#   metabias(method.bias = "Harbord")   Harbord, Egger & Sterne (2006) score test (OR)
#   metabias(method.bias = "Peters")    Peters et al. (2006) regression on 1/n
# REML is fitted by metafor inside meta, with control threshold 1e-12.

suppressPackageStartupMessages(library(meta))
source(file.path("tests", "reference", "write_json.R"))
extra <- read_inputs("stage2_extra.json")
bias <- read_inputs("stage2_bias.json")
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)

interval_record <- function(name, level) {
  d <- extra[[name]]
  one <- function(...) metagen(TE = d$yi, seTE = sqrt(d$vi), method.tau = "REML",
                               level.ma = level, level.predict = level, control = ctrl,
                               prediction = TRUE, ...)
  kr <- one(method.random.ci = "KR", method.predict = "KR")
  zovert <- one(method.random.ci = "HK", adhoc.hakn.ci = "ci")
  trunc <- one(method.random.ci = "HK", adhoc.hakn.ci = "se")
  list(data = name, level = level, tau2 = kr$tau2, estimate = kr$TE.random,
       kr = list(se = kr$seTE.random, df = kr$df.random, ci_low = kr$lower.random,
                 ci_high = kr$upper.random, pvalue = kr$pval.random,
                 pi_low = kr$lower.predict, pi_high = kr$upper.predict,
                 pi_df = kr$df.predict),
       hksj_zovert = list(ci_low = zovert$lower.random, ci_high = zovert$upper.random),
       hksj_trunc = list(ci_low = trunc$lower.random, ci_high = trunc$upper.random,
                         se = trunc$seTE.random))
}

bias_record <- function(name, sm_peters) {
  d <- bias[[name]]
  counts <- function(sm) metabin(d$d1, d$n1, d$d0, d$n0, sm = sm, method = "Inverse",
                                 method.tau = "DL")
  h <- metabias(counts("OR"), method.bias = "Harbord", k.min = 3)
  p <- metabias(counts(sm_peters), method.bias = "Peters", k.min = 3)
  pick <- function(b) list(estimate = unname(b$estimate[1]), se = unname(b$estimate[2]),
                           statistic = unname(b$statistic), df = unname(b$df),
                           pvalue = b$pval)
  list(data = name, peters_measure = sm_peters, harbord = pick(h), peters = pick(p))
}

intervals <- unlist(lapply(real_data_sets(extra), function(n) lapply(c(0.95, 0.90), function(l)
  interval_record(n, l))), recursive = FALSE)
# Peters' test uses the effect sizes of stage2_bias.json: log RR for bcg, log OR for the
# magnesium trials
bias_tests <- list(bias_record("bcg", "RR"), bias_record("magnesium", "OR"))

notes <- list(
  meta_version = as.character(packageVersion("meta")),
  metafor_version = as.character(packageVersion("metafor")),
  R_version = R.version.string,
  inputs = "yi/vi from stage2_extra.json, 2x2 counts from stage2_bias.json",
  numbers = "17 significant digits"
)
write_reference(list(notes = notes, intervals = intervals, bias = bias_tests),
                file.path("tests", "reference", "stage2_meta.json"))
