# Reference values for Mantel-Haenszel and Peto pooling of 2x2 tables, computed with R's
# metafor (rma.mh, rma.peto) and rma() on escalc() output.
#
# Run from the repository root:
#     Rscript tests/reference/pooling_mh_peto.R
# It writes tests/reference/pooling_mh_peto.json, which tests/test_mantel_haenszel.py reads
# (the tables are stored in the JSON: no R needed to run the tests).
#
# Requires: metafor (written with 3.8.1), metadat (1.2.0), jsonlite.
# Numbers: 17 significant digits; null = NA.
#
# Per data set (dat.bcg, dat.collins1985a rebleeding and deaths, dat.nielweise2007):
#   * rma.mh(measure = OR, RR, RD; correct = TRUE/FALSE) with the default add/to/drop00,
#     and with add = 0.25, to = "all", drop00 = FALSE for the heterogeneity part;
#   * rma.peto() with the defaults and with to = "all", drop00 = FALSE;
#   * rma(yi, vi, method = "REML"/"DL") on escalc(OR/RR) output (escalc defaults),
#     control threshold 1e-12;
#   * rma(yi, vi, mods = ~ ablat, method = "REML", test = "knha"/"z") on escalc(RR) of
#     dat.bcg (meta-regression from counts).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})
source(file.path("tests", "reference", "write_json.R"))

tables <- list()
col <- dat.collins1985a
reb <- col[!is.na(col$b.xti) & !is.na(col$b.xci), ]
dth <- col[!is.na(col$d.xti) & !is.na(col$d.xci), ]
tab <- function(study, ai, n1i, ci, n2i, description) {
  list(description = description, study = study, ai = I(ai), bi = I(n1i - ai), ci = I(ci),
       di = I(n2i - ci))
}
tables$bcg <- with(dat.bcg, tab(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg,
                                "metadat::dat.bcg, 13 trials"))
tables$collins_rebleed <- tab(paste(reb$id, reb$trial), reb$b.xti, reb$nti, reb$b.xci,
                              reb$nci, "metadat::dat.collins1985a rebleeding, complete rows")
tables$collins_death <- tab(paste(dth$id, dth$trial), dth$d.xti, dth$nti, dth$d.xci,
                            dth$nci, "metadat::dat.collins1985a deaths (double zeros)")
tables$nielweise <- with(dat.nielweise2007, tab(paste(author, year), ai, n1i, ci, n2i,
                         "metadat::dat.nielweise2007 (zeros; one double zero)"))

fit_fields <- function(r) {
  out <- list(estimate = as.numeric(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
              z = r$zval, pvalue = r$pval, Q = r$QE, Q_pvalue = r$QEp, I2 = r$I2, H2 = r$H2,
              k = r$k, k_yi = r$k.yi, weights = I(as.numeric(weights(r))))
  for (nm in c("CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "k.pos")) {
    if (!is.null(r[[nm]])) out[[gsub(".", "_", nm, fixed = TRUE)]] <- r[[nm]]
  }
  out
}

fits <- list()
for (dname in names(tables)) {
  d <- tables[[dname]]
  for (m in c("OR", "RR", "RD")) {
    for (correct in c(TRUE, FALSE)) {
      r <- rma.mh(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di, measure = m, correct = correct)
      fits[[length(fits) + 1]] <- c(list(
        data = dname, method = "MH", measure = m, correct = correct,
        options = list()), fit_fields(r))
    }
    r <- rma.mh(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di, measure = m, add = 0.25,
                to = "all", drop00 = FALSE)
    fits[[length(fits) + 1]] <- c(list(
      data = dname, method = "MH", measure = m, correct = TRUE,
      options = list(correction = 0.25, to = "all", drop_double_zero = FALSE)),
      fit_fields(r))
  }
  r <- rma.peto(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di)
  fits[[length(fits) + 1]] <- c(list(data = dname, method = "peto", measure = "OR",
                                     correct = TRUE, options = list()), fit_fields(r))
  r <- rma.peto(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di, to = "all", drop00 = FALSE)
  fits[[length(fits) + 1]] <- c(list(data = dname, method = "peto", measure = "OR",
                                     correct = TRUE,
                                     options = list(to = "all", drop_double_zero = FALSE)),
                                fit_fields(r))
  for (m in c("OR", "RR")) {
    es <- escalc(measure = m, ai = d$ai, bi = d$bi, ci = d$ci, di = d$di)
    for (method in c("REML", "DL")) {
      r <- rma(yi, vi, data = es, method = method,
               control = list(threshold = 1e-12, maxiter = 1000))
      fits[[length(fits) + 1]] <- list(
        data = dname, method = method, measure = m, correct = TRUE, options = list(),
        estimate = as.numeric(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
        tau2 = r$tau2, Q = r$QE, Q_pvalue = r$QEp, I2 = r$I2, k = r$k,
        weights = I(as.numeric(weights(r))))
    }
  }
}

# meta-regression on escalc output: log RR of dat.bcg on absolute latitude
bcg_es <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
tables$bcg$ablat <- I(dat.bcg$ablat)
metareg <- list()
for (test in c("knha", "z")) {
  r <- rma(yi, vi, mods = ~ ablat, data = bcg_es, method = "REML", test = test,
           control = list(threshold = 1e-12, maxiter = 1000))
  metareg[[test]] <- list(coef = I(as.numeric(r$beta)), se = I(r$se), pvalue = I(r$pval),
                          ci_low = I(r$ci.lb), ci_high = I(r$ci.ub), tau2 = r$tau2,
                          QE = r$QE, QM = r$QM)
}

notes <- list(
  source = "metafor 3.8.1 rma.mh / rma.peto / rma; metadat 1.2.0",
  numbers = "17 significant digits; null = NA",
  fields = paste("CO/COp: Cochran test (denominator N); MH/MHp: Cochran-Mantel-Haenszel test",
                 "(denominator N-1); BD/TA: Breslow-Day and Tarone; k_pos: tables in BD"),
  options = "options: our names for add/to/drop00 of the heterogeneity part")

out <- list(notes = notes, tables = tables, fits = fits, metareg = metareg)
out_path <- file.path("tests", "reference", "pooling_mh_peto.json")
write_reference(out, out_path)
message("wrote ", out_path, " (", length(fits), " fits)")
