//! The docs' GetCourseRecommendations: an activity that takes a tuple input.

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// What `CourseRecommendations` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendations {
    /// The student's major.
    pub major: String,
    /// The student's year at university.
    pub university_year: u32,
    /// Courses to take.
    pub recommended_courses: Vec<String>,
}

/// Recommends courses for a major and a university year.
#[activity_trigger(name = "CourseRecommendations")]
pub async fn course_recommendations((major, university_year): (String, u32)) -> Recommendations {
    Recommendations {
        major,
        university_year,
        recommended_courses: vec![
            "Introduction to .NET Programming".to_owned(),
            "Introduction to Linux".to_owned(),
            "Becoming an Entrepreneur".to_owned(),
        ],
    }
}

/// Asks `CourseRecommendations` for a Computer Science student in the year given as input.
#[orchestration_trigger(name = "GetCourseRecommendations")]
pub async fn get_course_recommendations(
    ctx: OrchestrationContext,
    university_year: u32,
) -> Result<Recommendations, DurableError> {
    let major = "ComputerScience".to_owned();
    ctx.call_activity("CourseRecommendations", (major, university_year))
        .await
}
