# Reference values for the Stata options the translator maps to computations
# (tests/test_stata_options.py and tests/test_stata_book.py read the JSON).
#
# Run from the repository root:
#     Rscript tests/reference/stata_options.R
# It writes tests/reference/stata_options.json.  Requires metafor (3.8.1), metadat,
# jsonlite.  Numbers are written with 15 significant digits (jsonlite's limit).
#
# What is computed:
#   * book_metareg: the book's do-file, "metareg _ES int_type2 int_type3, wsse(_seES)":
#     rma(yi = _ES, sei = _seES, mods = ~ int_type2 + int_type3, method = "REML",
#     test = "knha") on the study rows of the AD.dta that
#     "ipdmetan, study(studyid) re(reml, hksj) ... saving(AD.dta) or: logit
#     outcm_comp_exclbase trt2" writes (tests/reference/data/stata_book_AD.csv; the
#     dummies are those of "tabulate intervention, gen(int_type)").
#   * wgt: metan's wgt(n) on dat.bcg log risk ratios with n = total participants:
#     rma(yi, vi, weights = n, method = FE/DL/REML/PM, test = z or t).  metafor estimates
#     tau2 as usual and pools with W = diag(n): sum(n y)/sum(n), variance
#     sum(n^2 (v + tau2))/sum(n)^2, the formula in metan's help.
#   * rfdist: the prediction interval metan draws (Higgins, Thompson & Spiegelhalter
#     2009): b +/- qt(1 - (1 - L)/2, k - 2) * sqrt(se^2 + tau2), REML on dat.bcg, at
#     rflevel 95 and 80 (the CI level stays 95).
#   * cumulative: metan's "cumulative sortby(year)" = cumul(rma(REML), order = year) on
#     dat.bcg (ties in year broken by data order).
#   * influence: metan's "influence" = leave1out(rma(REML)) on dat.bcg.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
out <- list()

# ---------------------------------------------------------------- the book's metareg
ad <- read.csv(file.path("tests", "reference", "data", "stata_book_AD.csv"))
r <- rma(yi = ad$X_ES, sei = ad$X_seES, mods = ~ int_type2 + int_type3, data = ad,
         method = "REML", test = "knha", control = ctrl)
out$book_metareg <- list(
  k = r$k, terms = rownames(r$b), estimate = as.numeric(r$b), se = as.numeric(r$se),
  tval = as.numeric(r$zval), pvalue = as.numeric(r$pval), ci_low = as.numeric(r$ci.lb),
  ci_high = as.numeric(r$ci.ub), tau2 = r$tau2, I2 = r$I2, QE = r$QE, QEp = r$QEp,
  QM = r$QM, QMp = r$QMp, df = r$dfs, eform = as.numeric(exp(r$b))
)

# ---------------------------------------------------------------- dat.bcg
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
n <- with(dat.bcg, tpos + tneg + cpos + cneg)
out$bcg <- list(trial = dat.bcg$trial, year = dat.bcg$year, yi = as.numeric(bcg$yi),
                vi = as.numeric(bcg$vi), n = n)

fit_row <- function(r) {
  list(estimate = as.numeric(r$b), se = as.numeric(r$se), ci_low = r$ci.lb,
       ci_high = r$ci.ub, stat = as.numeric(r$zval), pvalue = as.numeric(r$pval),
       tau2 = r$tau2, Q = r$QE)
}
wgt <- list()
for (m in c("FE", "DL", "REML", "PM")) {
  for (test in c("z", "t")) {
    r <- rma(yi, vi, data = bcg, weights = n, method = m, test = test, control = ctrl)
    wgt[[paste(m, test, sep = "_")]] <- c(fit_row(r), list(weight = as.numeric(weights(r))))
  }
}
out$wgt <- wgt

r <- rma(yi, vi, data = bcg, method = "REML", control = ctrl)
hts <- function(r, level) {
  crit <- qt(1 - (1 - level) / 2, r$k - 2)
  half <- crit * sqrt(r$se^2 + r$tau2)
  c(as.numeric(r$b) - half, as.numeric(r$b) + half)
}
out$rfdist <- list(estimate = as.numeric(r$b), pi95 = hts(r, 0.95), pi80 = hts(r, 0.80),
                   ci_low = r$ci.lb, ci_high = r$ci.ub)

cum <- cumul(r, order = bcg$year)
out$cumulative <- list(order = cum$slab, estimate = as.numeric(cum$estimate),
                       se = as.numeric(cum$se), ci_low = cum$ci.lb, ci_high = cum$ci.ub,
                       tau2 = cum$tau2, I2 = cum$I2)
l1o <- leave1out(r)
out$influence <- list(omitted = l1o$slab, estimate = as.numeric(l1o$estimate),
                      se = as.numeric(l1o$se), ci_low = l1o$ci.lb, ci_high = l1o$ci.ub,
                      tau2 = l1o$tau2, I2 = l1o$I2, Q = l1o$Q)

path <- file.path("tests", "reference", "stata_options.json")
write_json(out, path, auto_unbox = TRUE, digits = I(17), pretty = TRUE)
message("wrote ", path)
