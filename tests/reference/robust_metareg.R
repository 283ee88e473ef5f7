# Reference values for robust meta-regression (metaplus with mods): the normal and the
# normal-mixture random-effects models with a moderator, by an independent R implementation
# (the likelihoods are closed form; see robust_metaplus.R for the models).
#
# Run from the repository root:
#     Rscript tests/reference/robust_metareg.R
# It writes tests/reference/robust_metareg.json, read by tests/test_robust.py.
# Requires: metafor (3.8.1), metadat, jsonlite.
#
# Maximum likelihood by nlminb() from many starts (each study alone in the outlier
# component, the m most outlying together, random starts); for each coefficient the
# profile-likelihood interval (uniroot, tol 1e-11, the other parameters re-maximised from
# the same set of starts) and the likelihood-ratio p-value of 0; the likelihood-ratio test
# of the moderator (QM); outlier probabilities.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

rau <- dat.raudenbush1985
d <- list(description = paste("metadat::dat.raudenbush1985, yi and vi as given, moderator",
                              "weeks (of prior teacher-student contact)"),
          yi = rau$yi, vi = rau$vi, x = rau$weeks)
X <- cbind(1, d$x)

ll_mix <- function(b, t2, t2o, p, y, v, X) {
  mu <- as.vector(X %*% b)
  sum(log((1 - p) * dnorm(y, mu, sqrt(v + t2)) + p * dnorm(y, mu, sqrt(v + t2o))))
}
ll_norm <- function(b, t2, y, v, X) sum(dnorm(y, as.vector(X %*% b), sqrt(v + t2), log = TRUE))

ctrl <- list(eval.max = 5000, iter.max = 2000, rel.tol = 1e-15, x.tol = 1e-12)
set.seed(20261202)

# maximise over all parameters with coefficient j fixed at value (j = 0: nothing fixed)
fit_fixed <- function(model, y, v, X, j = 0, value = 0) {
  p <- ncol(X)
  free_b <- setdiff(seq_len(p), j)
  ml <- rma(y, v, mods = X[, -1, drop = FALSE], method = "ML")
  b0 <- as.numeric(ml$b); if (j > 0) b0[j] <- value
  full_b <- function(q) { b <- numeric(p); b[free_b] <- q[seq_along(free_b)]; if (j > 0) b[j] <- value; b }
  nb <- length(free_b)
  if (model == "normal") {
    f <- function(q) -ll_norm(full_b(q), q[nb + 1], y, v, X)
    starts <- list(c(b0[free_b], ml$tau2 + 1e-4), c(b0[free_b], 0.5 * ml$tau2 + 1e-3))
    lo <- c(rep(-Inf, nb), 0); up <- c(rep(Inf, nb), Inf)
  } else {
    f <- function(q) -ll_mix(full_b(q), q[nb + 1], q[nb + 2], q[nb + 3], y, v, X)
    r2 <- (y - as.vector(X %*% b0))^2
    ord <- order(-r2 / (v + ml$tau2)); k <- length(y)
    starts <- list()
    for (i in ord) starts[[length(starts) + 1]] <- c(b0[free_b], ml$tau2 / 2 + 1e-6,
                                                     max(r2[i] - v[i], ml$tau2 + 1e-3), 1 / k)
    for (m in 2:floor(k / 2)) starts[[length(starts) + 1]] <- c(b0[free_b], 1e-4,
      max(mean(r2[ord[1:m]] - v[ord[1:m]]), ml$tau2 + 1e-3), m / k)
    for (s in 1:60) starts[[length(starts) + 1]] <- c(b0[free_b] + rnorm(nb, 0, 0.1),
      runif(1, 0, 0.05), runif(1, 0, 1), runif(1, 0.05, 0.6))
    lo <- c(rep(-Inf, nb), 0, 0, 1e-12); up <- c(rep(Inf, nb), Inf, Inf, 1 - 1e-12)
  }
  best <- NULL
  for (s in starts) {
    o <- try(nlminb(s, f, lower = lo, upper = up, control = ctrl), silent = TRUE)
    if (!inherits(o, "try-error") && (is.null(best) || o$objective < best$objective)) best <- o
  }
  list(ll = -best$objective, b = full_b(best$par), nuis = best$par[-seq_len(nb)])
}

fit_reg <- function(model) {
  top <- fit_fixed(model, d$yi, d$vi, X)
  crit <- qchisq(0.95, 1)
  se <- sqrt(diag(vcov(rma(d$yi, d$vi, mods = X[, -1, drop = FALSE], method = "ML"))))
  out <- list(model = model, coef = I(top$b), loglik = top$ll)
  lo <- hi <- pv <- numeric(ncol(X))
  for (j in seq_len(ncol(X))) {
    g <- function(val) 2 * (top$ll - fit_fixed(model, d$yi, d$vi, X, j, val)$ll) - crit
    bound <- function(dir) {
      step <- 2 * se[j]
      while (g(top$b[j] + dir * step) < 0) step <- 2 * step
      uniroot(g, sort(c(top$b[j], top$b[j] + dir * step)), tol = 1e-11)$root
    }
    lo[j] <- bound(-1); hi[j] <- bound(1)
    pv[j] <- pchisq(max(0, 2 * (top$ll - fit_fixed(model, d$yi, d$vi, X, j, 0)$ll)), 1,
                    lower.tail = FALSE)
  }
  out$ci_low <- I(lo); out$ci_high <- I(hi); out$pvalue <- I(pv)
  reduced <- fit_fixed(model, d$yi, d$vi, X[, 1, drop = FALSE])
  out$QM <- max(0, 2 * (top$ll - reduced$ll))
  out$tau2 <- top$nuis[1]
  if (model == "mixture") {
    n <- top$nuis
    if (n[1] > n[2]) n <- c(n[2], n[1], 1 - n[3])
    out$tau2 <- n[1]; out$tau2out <- n[2]; out$p_outlier <- n[3]
    mu <- as.vector(X %*% top$b)
    d1 <- (1 - n[3]) * dnorm(d$yi, mu, sqrt(d$vi + n[1]))
    d2 <- n[3] * dnorm(d$yi, mu, sqrt(d$vi + n[2]))
    out$outlier_prob <- I(d2 / (d1 + d2))
  }
  out
}

res <- list(description = d$description, yi = I(d$yi), vi = I(d$vi), x = I(d$x),
            fits = list(normal = fit_reg("normal"), mixture = fit_reg("mixture")))
fmt_num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", as.double(x)))
to_json_tree <- function(x) {
  if (is.list(x) && !is.data.frame(x)) return(lapply(x, to_json_tree))
  asis <- inherits(x, "AsIs")
  if (is.numeric(x)) {
    s <- fmt_num(x)
    if (asis || length(x) != 1) s <- paste0("[", paste(s, collapse = ","), "]")
    return(structure(s, class = "json"))
  }
  x
}
notes <- list(generated_by = "tests/reference/robust_metareg.R", R_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")))
write_json(to_json_tree(list(notes = notes, raudenbush1985 = res)),
           file.path("tests", "reference", "robust_metareg.json"), auto_unbox = TRUE,
           json_verbatim = TRUE, pretty = TRUE, digits = NA)
message("wrote tests/reference/robust_metareg.json")
