# Reference values for REML/ML at large k where plain Fisher scoring cycles (issue 12).
#
# Run from the repository root:
#     Rscript tests/reference/tau2_largek.R
# It reads tests/reference/data/tau2_largek_{100,1000}.csv (written by numpy: k estimates
# with true tau2 = 0.02, within-study variances uniform on 0.1-5 and one to three studies
# with variances of 0.0003-0.03) and writes tests/reference/tau2_largek.json, which
# tests/test_bad_inputs.py reads (no R needed there).
#
# Requires: metafor (written with 3.8.1), jsonlite.
#
# Per data set and method (REML, ML):
#   * default_converged: whether rma() with the default Fisher scoring (stepadj = 1,
#     maxiter = 100) converges to threshold 1e-12;
#   * tau2, estimate, se: rma() with step halving (stepadj = 0.5, metafor's remedy),
#     threshold 1e-12;
#   * tau2_uniroot: the root of the score (derivative of the (restricted) log-likelihood) in
#     [0.01, 1] (for ML the score is also negative just above 0: a local maximum at 0)
#     found by uniroot(tol = 1e-14), an independent check of the maximum.
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

num <- function(x) if (is.null(x) || is.na(x)) NA else sprintf("%.17g", x)

score <- function(t2, y, v, reml) {
  w <- 1 / (v + t2)
  mu <- sum(w * y) / sum(w)
  r <- y - mu
  s <- sum(w^2 * r^2) - sum(w)
  if (reml) s <- s + sum(w^2) / sum(w)
  s
}

out <- list()
for (name in c("tau2_largek_100", "tau2_largek_1000")) {
  d <- read.csv(file.path("tests/reference/data", paste0(name, ".csv")))
  res <- list(k = nrow(d))
  for (method in c("REML", "ML")) {
    default <- tryCatch(
      rma(yi, vi, data = d, method = method,
          control = list(threshold = 1e-12)),
      error = function(e) NULL)
    fit <- rma(yi, vi, data = d, method = method,
               control = list(threshold = 1e-12, maxiter = 10000, stepadj = 0.5))
    root <- uniroot(score, c(0.01, 1), y = d$yi, v = d$vi, reml = method == "REML",
                    tol = 1e-14)$root
    res[[method]] <- list(default_converged = !is.null(default), tau2 = num(fit$tau2),
                          estimate = num(fit$b[1]), se = num(fit$se),
                          tau2_uniroot = num(root))
  }
  out[[name]] <- res
}
out$notes <- paste("rma(yi, vi, method, control = list(threshold = 1e-12, stepadj = 0.5));",
                   "default_converged: the same with stepadj = 1 (maxiter = 100, the default);",
                   "tau2_uniroot: uniroot of the score, tol 1e-14; metafor",
                   as.character(packageVersion("metafor")))
txt <- toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA)
txt <- gsub('"(-?[0-9][0-9.e+-]*)"', "\\1", txt)
writeLines(txt, "tests/reference/tau2_largek.json")
