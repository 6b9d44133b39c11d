"""Dashboard URLs: routing control and the change log."""

from django.urls import path

from routing.dashboard import control_views as views

urlpatterns = [
    path("control", views.control, name="control"),
    path("control/strategy", views.strategy_switch, name="control_strategy"),
    path("control/strategy/end", views.strategy_end, name="control_strategy_end"),
    path("control/agent-model", views.agent_model_set, name="control_agent_model"),
    path("control/agent-model/end", views.agent_model_end, name="control_agent_model_end"),
    path("control/task", views.task_override_set, name="control_task"),
    path("control/task/end", views.task_override_end, name="control_task_end"),
    path("control/force-local", views.force_local_toggle, name="control_force_local"),
    path("changes", views.change_log, name="change_log"),
]
