# Reference values for the robust random-effects models (ipdmeta.pooling.robust), computed by
# an independent R implementation of the likelihoods of R's metaplus (Beath 2016), because
# metaplus itself is not installable here.
#
# Run from the repository root:
#     Rscript tests/reference/robust_metaplus.R
# It writes tests/reference/robust_metaplus.json, read by tests/test_robust.py (no R needed there).
#
# Requires: metafor (3.8.1), metadat, jsonlite.  Takes a few minutes (numerical integration).
#
# Models (y_i = mu + u_i + e_i, e_i ~ N(0, v_i)):
#   normal : u_i ~ N(0, tau2)
#   t      : u_i = sqrt(tau2) * T_i, T_i ~ Student t with nu = 1/vinv degrees of freedom;
#            the study likelihood is the convolution integral of dnorm and dt, evaluated here
#            with integrate() at rel.tol = 1e-12 on pieces split at 0, r_i and +-10 scale
#            (metaplus uses integrate() at its default rel.tol of ~1.2e-4, which is why its
#            printed log-likelihoods can differ from exact ones in the 4th decimal)
#   mixture: u_i ~ (1 - p) N(0, tau2) + p N(0, tau2out)
# Maximum likelihood by nlminb() from several starts (tight tolerances), profile-likelihood
# intervals for mu by uniroot() on 2 (ll_max - ll_profile(mu)) = qchisq(0.95, 1) with the
# nuisance parameters re-maximised (several starts) at each mu, and the likelihood-ratio
# p-value of mu = 0, as metaplus reports them.  Also: log-likelihood values on a grid of
# parameter values (to check the likelihood functions themselves), and the posterior
# outlier probabilities of the mixture.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

# ---------------------------------------------------------------- data (metadat)
datasets <- list()
rau <- dat.raudenbush1985
datasets$raudenbush1985 <- list(
  description = "metadat::dat.raudenbush1985, yi and vi as given (19 studies)",
  yi = as.numeric(rau$yi), vi = as.numeric(rau$vi))
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
              m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
datasets$normand1999 <- list(
  description = "metadat::dat.normand1999, escalc(measure='MD') (9 studies)",
  yi = as.numeric(nor$yi), vi = as.numeric(nor$vi))
mag <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
datasets$egger2001 <- list(
  description = paste("metadat::dat.egger2001 (magnesium trials), escalc(measure='OR');",
                      "the 'mag' example of metaplus (Beath 2016, section 3.1)"),
  yi = as.numeric(mag$yi), vi = as.numeric(mag$vi))

# ---------------------------------------------------------------- likelihoods
ll_normal <- function(mu, tau2, y, v) sum(dnorm(y, mu, sqrt(v + tau2), log = TRUE))

t_study <- function(r, s2, tau2, vinv) {
  s <- sqrt(s2)
  tau <- sqrt(tau2)
  f <- function(u) dnorm(r - u, 0, s) * dt(u / tau, df = 1 / vinv) / tau
  cuts <- sort(unique(c(-Inf, 0, r, -10 * tau, 10 * tau, r - 10 * s, r + 10 * s, Inf)))
  tot <- 0
  for (i in seq_len(length(cuts) - 1)) {
    tot <- tot + integrate(f, cuts[i], cuts[i + 1], rel.tol = 1e-12, abs.tol = 0,
                           subdivisions = 2000L)$value
  }
  tot
}
ll_t <- function(mu, tau2, vinv, y, v) {
  if (vinv <= 0 || tau2 <= 0) return(ll_normal(mu, max(tau2, 0), y, v))
  sum(log(mapply(t_study, y - mu, v, MoreArgs = list(tau2 = tau2, vinv = vinv))))
}
ll_mix <- function(mu, tau2, tau2out, p, y, v) {
  sum(log((1 - p) * dnorm(y, mu, sqrt(v + tau2)) + p * dnorm(y, mu, sqrt(v + tau2out))))
}

ctrl <- list(eval.max = 5000, iter.max = 2000, rel.tol = 1e-15, x.tol = 1e-12)

# negative log-likelihood of the nuisance parameters for fixed mu (or all parameters)
fit_nuisance <- function(model, mu, y, v, starts) {
  best <- NULL
  for (s in starts) {
    if (model == "normal") {
      f <- function(q) -ll_normal(mu, q[1], y, v)
      lo <- 0; up <- Inf
    } else if (model == "t") {
      f <- function(q) -ll_t(mu, q[1], q[2], y, v)
      lo <- c(0, 0); up <- c(Inf, 50)
    } else {
      f <- function(q) -ll_mix(mu, q[1], q[2], q[3], y, v)
      lo <- c(0, 0, 1e-12); up <- c(Inf, Inf, 1 - 1e-12)
    }
    o <- try(nlminb(s, f, lower = lo, upper = up, control = ctrl), silent = TRUE)
    if (inherits(o, "try-error")) next
    if (is.null(best) || o$objective < best$objective) best <- o
  }
  best
}

nuisance_starts <- function(model, y, v, tau2_ml, prev = NULL) {
  out <- if (is.null(prev)) list() else list(prev)
  if (model == "normal") return(c(out, list(tau2_ml + 1e-4, tau2_ml / 10 + 1e-6)))
  if (model == "t") {
    for (vi in c(0.1, 0.5, 1, 2)) for (f in c(1, 0.1)) out <- c(out, list(c(tau2_ml * f + 1e-6, vi)))
    return(out)
  }
  k <- length(y)
  r2 <- (y - weighted.mean(y, 1 / (v + tau2_ml)))^2
  for (i in order(-r2 / (v + tau2_ml))) {
    out <- c(out, list(c(tau2_ml / 2 + 1e-6, max(r2[i] - v[i], tau2_ml + 1e-3), 1 / k)))
  }
  for (p in c(0.2, 0.35, 0.5)) out <- c(out, list(c(tau2_ml / 4 + 1e-6, 4 * tau2_ml + 1e-3, p)))
  out
}

profile_ll <- function(model, mu, y, v, tau2_ml, prev = NULL) {
  o <- fit_nuisance(model, mu, y, v, nuisance_starts(model, y, v, tau2_ml, prev))
  list(ll = -o$objective, par = o$par)
}

fit_model <- function(model, y, v) {
  ml <- rma(y, v, method = "ML", control = list(threshold = 1e-12, maxiter = 1000))
  tau2_ml <- ml$tau2
  # maximise over mu by optimize() on the profile log-likelihood, then polish jointly
  prof <- function(mu) profile_ll(model, mu, y, v, tau2_ml)$ll
  span <- 6 * ml$se
  opt <- optimize(prof, c(ml$b - span, ml$b + span), maximum = TRUE, tol = 1e-10)
  mu_hat <- opt$maximum
  p_hat <- profile_ll(model, mu_hat, y, v, tau2_ml)
  full <- function(q) {
    if (model == "normal") -ll_normal(q[1], q[2], y, v)
    else if (model == "t") -ll_t(q[1], q[2], q[3], y, v)
    else -ll_mix(q[1], q[2], q[3], q[4], y, v)
  }
  lo <- switch(model, normal = c(-Inf, 0), t = c(-Inf, 0, 0), mixture = c(-Inf, 0, 0, 1e-12))
  up <- switch(model, normal = c(Inf, Inf), t = c(Inf, Inf, 50), mixture = c(Inf, Inf, Inf, 1 - 1e-12))
  o <- nlminb(c(mu_hat, p_hat$par), full, lower = lo, upper = up, control = ctrl)
  if (-o$objective < p_hat$ll) o <- list(par = c(mu_hat, p_hat$par), objective = -p_hat$ll)
  est <- o$par
  ll_max <- -o$objective
  if (model == "mixture" && est[2] > est[3]) est <- c(est[1], est[3], est[2], 1 - est[4])
  crit <- qchisq(0.95, 1)
  g <- function(mu) 2 * (ll_max - profile_ll(model, mu, y, v, tau2_ml)$ll) - crit
  bound <- function(dir) {
    step <- 2 * ml$se
    while (g(est[1] + dir * step) < 0) step <- 2 * step
    uniroot(g, sort(c(est[1], est[1] + dir * step)), tol = 1e-11, maxiter = 200)$root
  }
  lr0 <- max(0, 2 * (ll_max - profile_ll(model, 0, y, v, tau2_ml)$ll))
  out <- list(model = model, mu = est[1], tau2 = est[2], loglik = ll_max,
              ci_low = bound(-1), ci_high = bound(1),
              pvalue = pchisq(lr0, 1, lower.tail = FALSE))
  if (model == "t") out$vinv <- est[3]
  if (model == "mixture") {
    out$tau2out <- est[3]
    out$p_outlier <- est[4]
    d1 <- (1 - est[4]) * dnorm(y, est[1], sqrt(v + est[2]))
    d2 <- est[4] * dnorm(y, est[1], sqrt(v + est[3]))
    out$outlier_prob <- I(d2 / (d1 + d2))
  }
  out
}

# ---------------------------------------------------------------- likelihood grids
grid_points <- function(y, v) {
  tau2_ml <- rma(y, v, method = "ML")$tau2
  mus <- mean(y) + c(-0.5, 0, 0.3) * sd(y)
  pts <- list()
  for (mu in mus) {
    for (tau2 in c(0.01, 0.5, 2) * (tau2_ml + 0.01 * mean(v))) {
      for (vinv in c(0.001, 0.3, 1, 3)) {
        pts[[length(pts) + 1]] <- list(model = "t", mu = mu, tau2 = tau2, vinv = vinv,
                                       loglik = ll_t(mu, tau2, vinv, y, v))
      }
      pts[[length(pts) + 1]] <- list(model = "mixture", mu = mu, tau2 = tau2,
                                     tau2out = 10 * tau2 + mean(v), p = 0.2,
                                     loglik = ll_mix(mu, tau2, 10 * tau2 + mean(v), 0.2, y, v))
    }
  }
  pts
}

results <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  message("data set ", dn)
  fits <- list()
  models <- if (dn == "egger2001") c("normal") else c("normal", "t", "mixture")
  for (m in models) fits[[m]] <- fit_model(m, d$yi, d$vi)
  results[[dn]] <- list(description = d$description, yi = I(d$yi), vi = I(d$vi),
                        fits = fits, grid = grid_points(d$yi, d$vi))
}

notes <- list(
  generated_by = "tests/reference/robust_metaplus.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  method = paste(
    "independent R implementation of the metaplus likelihoods: t convolution by integrate()",
    "(rel.tol 1e-12, split at 0, r, +-10 tau, r +- 10 s); ML by nlminb (rel.tol 1e-15) with",
    "mu maximised by optimize() over the profile and a joint polish; profile intervals by",
    "uniroot (tol 1e-11) with the nuisance parameters re-maximised from several starts;",
    "p-value = likelihood-ratio test of mu = 0; mixture labelled with tau2out >= tau2"),
  numbers = "17 significant digits"
)

fmt_num <- function(x) {
  x <- as.double(x)
  ifelse(is.na(x), "null", sprintf("%.17g", x))
}
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
out_path <- file.path("tests", "reference", "robust_metaplus.json")
write_json(to_json_tree(list(notes = notes, datasets = results)), out_path, auto_unbox = TRUE,
           json_verbatim = TRUE, pretty = TRUE, digits = NA, na = "null")
message("wrote ", out_path)
