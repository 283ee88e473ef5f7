# Reference values for the one-stage linear and generalised linear mixed models
# (src/ipdmeta/onestage/{linear,glmm}.py): lme4 (lmer REML/ML, glmer Laplace and
# adaptive Gauss-Hermite quadrature), lmerTest (Satterthwaite df), pbkrtest
# (Kenward-Roger adjusted covariance and df) and nlme (trial-specific residual
# variances, varIdent).
#
# Run from the repository root:   Rscript tests/reference/onestage_lme4.R
# Needs: lme4, lmerTest, pbkrtest, nlme, mlmRev, jsonlite.
# Writes tests/reference/data/onestage_<data>.csv and tests/reference/onestage_lme4.json.
#
# Real data with trial-like clusters, "treatment" a covariate that varies within them:
#   sleepstudy (lme4):   Reaction ~ Days,          18 subjects as trials
#   Exam (mlmRev):       normexam ~ male + standLRT, 65 schools as trials
#   Contraception (mlmRev): use ~ urban (+ age),   60 districts (57 where use varies)
#   Mmmec (mlmRev):      deaths ~ uvb, offset log(expected), 9 nations as trials
# Stratified intercepts are fixed factors: y ~ 0 + factor(cluster) + treat + (0 + treat | cluster).
#
# Convergence: lmer with bobyqa and rhoend = 1e-12 (the profiled deviance is a
# function of theta only).  glmer puts the fixed effects in the outer optimisation
# (57 district intercepts), where bobyqa alone stops early; its fit is polished on
# lme4's own deviance function (devFunOnly = TRUE, tolPwrss = 1e-13 so that the
# conditional modes are exact) by nlminb and then Newton steps on central-difference
# derivatives, so the optimum is lme4's objective maximised to a gradient of ~1e-7.
# Standard errors of glmer fits: the fixed-effect block of 2 * solve(Hessian of the
# deviance in (theta, beta)) at that optimum, i.e. lme4's vcov(use.hessian = TRUE)
# definition with an accurate Hessian.  The deviance function is also evaluated at the optimum and at
# perturbed points so the tests check the objective itself.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(nlme)
  library(mlmRev)
  library(jsonlite)
})

out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

roundtrip <- function(name, df) {
  path <- file.path(data_dir, paste0("onestage_", name, ".csv"))
  fmt <- df
  for (k in names(fmt)) if (is.double(fmt[[k]])) fmt[[k]] <- sprintf("%.17g", fmt[[k]])
  write.csv(fmt, path, row.names = FALSE, quote = TRUE)
  back <- read.csv(path, check.names = FALSE)
  for (k in names(df)) if (is.factor(df[[k]]) || is.character(df[[k]])) back[[k]] <- factor(back[[k]])
  back
}

# ---------------------------------------------------------------- data
sleep <- roundtrip("sleepstudy", data.frame(Subject = as.character(sleepstudy$Subject),
                                            Reaction = sleepstudy$Reaction,
                                            Days = as.double(sleepstudy$Days)))
ex <- Exam
exam <- roundtrip("exam", data.frame(school = as.integer(as.character(ex$school)),
                                     normexam = ex$normexam, standLRT = ex$standLRT,
                                     male = as.double(ex$sex == "M")))
exam$school <- factor(exam$school)
# within-school centred standLRT and the treatment-covariate interaction
exam$cLRT <- exam$standLRT - ave(exam$standLRT, exam$school)
exam$male_cLRT <- exam$male * exam$cLRT
exam_sub <- droplevels(subset(exam, as.integer(as.character(school)) <= 12))

co <- Contraception
contra <- roundtrip("contraception", data.frame(
  district = as.integer(as.character(co$district)), use = as.double(co$use == "Y"),
  urban = as.double(co$urban == "Y"), age = co$age, livch = as.character(co$livch)))
contra$district <- factor(contra$district)
keep <- with(contra, ave(use, district, FUN = function(v) length(unique(v)) > 1)) == 1
contra_v <- droplevels(contra[keep, ])        # districts where use varies

mm <- Mmmec
mmmec <- roundtrip("mmmec", data.frame(nation = as.character(mm$nation), deaths = mm$deaths,
                                       expected = mm$expected, uvb = mm$uvb))

# ---------------------------------------------------------------- helpers
lctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                     check.conv.singular = "ignore", calc.derivs = FALSE)

vc_list <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
       var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov, sdcor = vc$sdcor)
}

blups <- function(fit) {
  re <- ranef(fit, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")
  out <- list(study = rownames(re))
  for (j in seq_len(ncol(re))) {
    out[[paste0("b_", colnames(re)[j])]] <- re[[j]]
    out[[paste0("se_", colnames(re)[j])]] <- sqrt(pv[j, j, ])
  }
  out
}

coef_list <- function(fit, terms) {
  b <- fixef(fit)
  v <- as.matrix(vcov(fit))
  list(term = terms, estimate = unname(b[terms]), se = unname(sqrt(diag(v)[terms])))
}

lmer_case <- function(name, data_name, formula, data, terms, call, kr = FALSE,
                      profile = TRUE) {
  message("case ", name)
  reml <- isTRUE(call$method == "REML")
  fit <- lmerTest::lmer(formula, data = data, REML = reml, control = lctrl)
  devfun <- lmer(formula, data = data, REML = reml, control = lctrl, devFunOnly = TRUE)
  th <- getME(fit, "theta")
  pts <- list(th, th * 0.7 + 0.01, th * 1.3 + 0.02)
  sat <- summary(fit, ddf = "Satterthwaite")$coefficients
  out <- list(name = name, data = data_name, family = "linear", call = call,
              r_formula = deparse1(formula),
              coef = coef_list(fit, terms),
              df_satterthwaite = unname(sat[terms, "df"]),
              theta = th, sigma = sigma(fit), varcorr = vc_list(fit),
              loglik = as.numeric(logLik(fit)), aic = AIC(fit),
              nobs = nobs(fit), npar = attr(logLik(fit), "df"),
              devfun = list(theta = pts, value = vapply(pts, devfun, 0.0)),
              blups = blups(fit))
  if (kr) {
    krt <- summary(fit, ddf = "Kenward-Roger")$coefficients
    out$kr <- list(se = unname(krt[terms, "Std. Error"]), df = unname(krt[terms, "df"]))
  }
  if (profile) {
    # lme4's profile CI for the sd of the random slope (spline-interpolated profile).
    # lme4 profiles the ML deviance also for a REML fit (the REML and ML fits of a model
    # give the same interval), so ipdmeta's method = "ML" interval is compared with it.
    pr <- profile(fit, which = "theta_", signames = FALSE)
    ci <- confint(pr, level = 0.95)
    out$profile_sd_ci <- unname(ci[1, ])
    out$profile_rownames <- rownames(ci)
  }
  out
}

# ---------------------------------------------------------------- linear cases
cases <- list()
f_sleep <- Reaction ~ 0 + Subject + Days + (0 + Days | Subject)
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- lmer_case(
    paste0("sleep_stratified_", tolower(m)), "sleepstudy", f_sleep, sleep, "Days",
    list(study = "Subject", formula = "Reaction ~ Days", model = "linear", method = m,
         intercepts = "stratified"), kr = (m == "REML"))
}
f_sleep_r <- Reaction ~ Days + (Days | Subject)
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- lmer_case(
    paste0("sleep_random_", tolower(m)), "sleepstudy", f_sleep_r, sleep,
    c("(Intercept)", "Days"),
    list(study = "Subject", formula = "Reaction ~ Days", model = "linear", method = m,
         intercepts = "random"), kr = (m == "REML"), profile = FALSE)
}
cases[[length(cases) + 1]] <- lmer_case(
  "exam_stratified_reml", "exam", normexam ~ 0 + school + male + standLRT + (0 + male | school),
  exam, c("male", "standLRT"),
  list(study = "school", formula = "normexam ~ male + standLRT", model = "linear",
       method = "REML", intercepts = "stratified"))
cases[[length(cases) + 1]] <- lmer_case(
  "exam_lrt_ml", "exam", normexam ~ 0 + school + standLRT + male + (0 + standLRT | school),
  exam, c("standLRT", "male"),
  list(study = "school", formula = "normexam ~ standLRT + male", model = "linear",
       method = "ML", intercepts = "stratified"))
cases[[length(cases) + 1]] <- lmer_case(
  "exam_bystudy_ml", "exam", normexam ~ 0 + school + school:standLRT + male + (0 + male | school),
  exam, "male",
  list(study = "school", formula = "normexam ~ male + standLRT", model = "linear",
       method = "ML", intercepts = "stratified", covariates_by_study = TRUE),
  profile = FALSE)
cases[[length(cases) + 1]] <- lmer_case(
  "exam_interaction_reml", "exam",
  normexam ~ 0 + school + school:standLRT + male + male_cLRT + (0 + male | school),
  exam, c("male", "male_cLRT"),
  list(study = "school", formula = "normexam ~ male + standLRT", model = "linear",
       method = "REML", intercepts = "stratified", covariates_by_study = TRUE,
       interaction = c("male", "standLRT")), profile = FALSE)
cases[[length(cases) + 1]] <- lmer_case(
  "exam_random_ml", "exam", normexam ~ male + standLRT + (male | school), exam,
  c("(Intercept)", "male", "standLRT"),
  list(study = "school", formula = "normexam ~ male + standLRT", model = "linear",
       method = "ML", intercepts = "random"), profile = FALSE)
cases[[length(cases) + 1]] <- lmer_case(
  "examsub_stratified_reml", "exam_sub(school <= 12)",
  normexam ~ 0 + school + male + standLRT + (0 + male | school), exam_sub,
  c("male", "standLRT"),
  list(study = "school", formula = "normexam ~ male + standLRT", model = "linear",
       method = "REML", intercepts = "stratified", subset_max_school = 12), kr = TRUE,
  profile = FALSE)

# ---------------------------------------------------------------- nlme: trial-specific residual variances
nctrl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12, niterEM = 200,
                    msTol = 1e-14, msVerbose = FALSE, returnObject = TRUE)
for (m in c("REML", "ML")) {
  nf <- lme(Reaction ~ 0 + Subject + Days, random = ~ 0 + Days | Subject,
            weights = varIdent(form = ~ 1 | Subject), data = sleep, method = m,
            control = nctrl)
  ratio <- coef(nf$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  sig <- nf$sigma * ratio
  # the same model with one residual variance, for the REML constant
  nf0 <- lme(Reaction ~ 0 + Subject + Days, random = ~ 0 + Days | Subject, data = sleep,
             method = m, control = nctrl)
  cases[[length(cases) + 1]] <- list(
    name = paste0("sleep_hetero_", tolower(m)), data = "sleepstudy", family = "linear",
    call = list(study = "Subject", formula = "Reaction ~ Days", model = "linear", method = m,
                intercepts = "stratified", residual_variance = "by_study"),
    r_formula = "lme(Reaction ~ 0 + Subject + Days, random = ~ 0 + Days | Subject, weights = varIdent(form = ~ 1 | Subject))",
    coef = list(term = "Days", estimate = unname(fixef(nf)["Days"]),
                se = unname(sqrt(vcov(nf)["Days", "Days"]))),
    tau2 = as.numeric(getVarCov(nf)[1, 1]),
    sigma2_study = list(study = names(sig), value = unname(sig^2)),
    loglik = as.numeric(logLik(nf)),
    loglik_common = as.numeric(logLik(nf0)),
    tau2_common = as.numeric(getVarCov(nf0)[1, 1]),
    estimate_common = unname(fixef(nf0)["Days"]))
}

# ---------------------------------------------------------------- glmer
gctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
                      tolPwrss = 1e-13,
                      check.conv.singular = "ignore", check.conv.grad = "ignore",
                      check.conv.hess = "ignore", calc.derivs = FALSE)

# Central differences on lme4's deviance function, with steps relative to the size of the
# column each parameter multiplies (scale).  The trial intercepts enter only their own
# trial's deviance, so their mixed second derivatives are zero and are not evaluated.
fd_grad <- function(f, x, scale, h = 1e-5) {
  vapply(seq_along(x), function(i) {
    e <- replace(numeric(length(x)), i, h * max(1, abs(x[i])) / scale[i])
    (f(x + e) - f(x - e)) / (2 * e[i])
  }, 0.0)
}
fd_hessian <- function(f, x, local, scale, h = 1e-4) {
  n <- length(x)
  H <- matrix(0, n, n)
  f0 <- f(x)
  step <- h * pmax(1, abs(x)) / scale
  unit <- function(i) replace(numeric(n), i, step[i])
  for (i in seq_len(n)) H[i, i] <- (f(x + unit(i)) - 2 * f0 + f(x - unit(i))) / step[i]^2
  for (i in which(!local)) for (j in seq_len(n)) {
    if (j == i || (!local[j] && j < i)) next
    ei <- unit(i); ej <- unit(j)
    H[i, j] <- H[j, i] <- (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) +
                             f(x - ei - ej)) / (4 * step[i] * step[j])
  }
  H
}

# nlminb from lme4's optimum, then Newton steps on the central-difference gradient and
# Hessian; a scalar theta is reflected at 0 (the deviance is even in it).
polish <- function(devfun, start, ntheta, local, lower_theta, scale) {
  lower <- c(lower_theta, rep(-Inf, length(start) - ntheta))
  o <- nlminb(start, devfun, lower = lower,
              control = list(rel.tol = 1e-14, x.tol = 1e-12, eval.max = 2e4, iter.max = 2e3))
  x <- o$par
  for (i in 1:3) {
    g <- fd_grad(devfun, x, scale)
    H <- fd_hessian(devfun, x, local, scale)
    xn <- x - solve(H, g)
    if (ntheta == 1) xn[1] <- abs(xn[1])
    if (any(xn[seq_len(ntheta)] < lower[seq_len(ntheta)])) next
    if (devfun(xn) <= devfun(x) + 1e-10) x <- xn
  }
  # the Hessian for the standard errors with a step of 1e-3: steps from 3e-3 to 3e-4 give
  # the same standard errors to 1e-7, while 1e-4 (lme4's own) is off by ~1e-5 (rounding)
  list(par = x, value = devfun(x), grad = fd_grad(devfun, x, scale),
       hessian = fd_hessian(devfun, x, local, scale, h = 1e-3))
}

glmer_case <- function(name, data_name, formula, data, family, nAGQ, terms, call,
                       ntheta = 1) {
  message("case ", name)
  fit <- glmer(formula, data = data, family = family, nAGQ = nAGQ, control = gctrl)
  devfun <- glmer(formula, data = data, family = family, nAGQ = nAGQ, control = gctrl,
                  devFunOnly = TRUE)
  start <- c(getME(fit, "theta"), fixef(fit))
  local <- c(rep(FALSE, ntheta), startsWith(names(fixef(fit)), call$study))
  scale <- c(rep(max(abs(getME(fit, "Z"))), ntheta), apply(abs(getME(fit, "X")), 2, max))
  pol <- polish(devfun, unname(start), ntheta, local, getME(fit, "lower"), scale)
  x <- pol$par
  names(x) <- names(start)
  cov <- 2 * solve(pol$hessian)
  dimnames(cov) <- list(names(start), names(start))
  dev_at_fit <- devfun(unname(start))
  devfun(unname(x))                           # leaves the conditional modes at x
  b <- environment(devfun)$pp$b(1)
  pts <- list(unname(x), unname(x) + 0.01 * seq_along(x) / length(x), unname(x) - 0.02)
  list(name = name, data = data_name, family = (if (is.function(family)) family() else family)$family, call = call,
       r_formula = deparse1(formula), nAGQ = nAGQ,
       coef = list(term = terms, estimate = unname(x[terms]),
                   se = unname(sqrt(diag(cov)[terms]))),
       theta = unname(x[seq_len(ntheta)]),
       deviance = pol$value, grad_max = max(abs(pol$grad)),
       # lme4's logLik is -deviance/2: checked at lme4's own optimum
       loglik_lme4_fit = as.numeric(logLik(fit)), deviance_lme4_fit = dev_at_fit,
       loglik = -pol$value / 2, npar = attr(logLik(fit), "df"), nobs = nobs(fit),
       devfun = list(par = pts, value = vapply(pts, devfun, 0.0)),
       blups = list(study = levels(data[[call$study]]),
                    b = matrix(b, ncol = (sqrt(8 * ntheta + 1) - 1) / 2, byrow = TRUE)))
}

f_con <- use ~ 0 + district + urban + (0 + urban | district)
for (q in c(1, 7)) {
  cases[[length(cases) + 1]] <- glmer_case(
    paste0("contra_stratified_agq", q), "contraception (districts where use varies)",
    f_con, contra_v, binomial, q, "urban",
    list(study = "district", formula = "use ~ urban", model = "logistic", nagq = q,
         intercepts = "stratified"))
}
cases[[length(cases) + 1]] <- glmer_case(
  "contra_stratified_cov_agq5", "contraception (districts where use varies)",
  use ~ 0 + district + urban + age + I(age^2) + livch + (0 + urban | district), contra_v,
  binomial, 5, c("urban", "age", "I(age^2)", "livch1", "livch2", "livch3+"),
  list(study = "district", formula = "use ~ urban + age + I(age**2) + C(livch)",
       model = "logistic", nagq = 5, intercepts = "stratified"))
cases[[length(cases) + 1]] <- glmer_case(
  "contra_random_laplace", "contraception", use ~ urban + age + (urban | district),
  contra, binomial, 1, c("(Intercept)", "urban", "age"),
  list(study = "district", formula = "use ~ urban + age", model = "logistic", nagq = 1,
       intercepts = "random"), ntheta = 3)
for (q in c(1, 9)) {   # offset log(expected): ipdmeta's exposure = "expected"
  cases[[length(cases) + 1]] <- glmer_case(
    paste0("mmmec_stratified_agq", q), "mmmec",
    deaths ~ 0 + nation + uvb + (0 + uvb | nation) + offset(log(expected)), mmmec, poisson, q,
    "uvb", list(study = "nation", formula = "deaths ~ uvb", model = "poisson", nagq = q,
                intercepts = "stratified", exposure = "expected"))
}

meta <- list(R = R.version.string, lme4 = format(packageVersion("lme4")),
             lmerTest = format(packageVersion("lmerTest")),
             pbkrtest = format(packageVersion("pbkrtest")),
             nlme = format(packageVersion("nlme")), mlmRev = format(packageVersion("mlmRev")))
write_json(list(meta = meta, cases = cases), file.path(out_dir, "onestage_lme4.json"),
           digits = NA, auto_unbox = TRUE, pretty = FALSE, null = "null", na = "null")
cat("wrote", length(cases), "cases\n")
