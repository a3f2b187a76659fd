"""Recipes: one YAML file names a matrix of models, variants, boards and backends; `run_recipe` runs it.

Every stage is cached by content under the recipe's work folder, so a re-run with
nothing changed quantizes, deploys and profiles nothing.
"""

from edgeq.recipe.plan import Plan, PlannedCell, make_plan
from edgeq.recipe.run import RecipeRun, run_recipe
from edgeq.recipe.schema import Recipe, load_recipe

__all__ = ["Plan", "PlannedCell", "Recipe", "RecipeRun", "load_recipe", "make_plan", "run_recipe"]
